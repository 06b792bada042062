"use strict";
// The integration suite: the running products API over the network, and the
// web consumer's client against it. interlock starts the service and sets
// INTERLOCK_SERVICE_PRODUCTS_URL; PRODUCT_TOKEN is the token the API checks.

const { ProductClient } = require("../web/client");

const BASE = process.env.INTERLOCK_SERVICE_PRODUCTS_URL;
const TOKEN = process.env.PRODUCT_TOKEN;

beforeAll(() => {
  if (!BASE || !TOKEN) {
    throw new Error("set INTERLOCK_SERVICE_PRODUCTS_URL and PRODUCT_TOKEN (interlock sets the URL; export the token)");
  }
});

function get(path, token = TOKEN) {
  const headers = token === null ? {} : { Authorization: `Bearer ${token}` };
  return fetch(`${BASE}${path}`, { headers });
}

describe("products API", () => {
  test("lists the seeded products", async () => {
    const response = await get("/products");
    expect(response.status).toBe(200);
    const products = await response.json();
    expect(products.length).toBeGreaterThanOrEqual(3);
    for (const product of products) {
      expect(Object.keys(product).sort()).toEqual(["id", "name", "type", "version"]);
      expect(typeof product.id).toBe("string");
    }
  });

  test("gets one product by id", async () => {
    const response = await get("/products/10");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ id: "10", type: "CREDIT_CARD", name: "28 Degrees", version: "v1" });
  });

  test("answers 404 for an unknown product", async () => {
    const response = await get("/products/999");
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ message: "Product not found" });
  });

  test("refuses a request without a token", async () => {
    const response = await get("/products", null);
    expect(response.status).toBe(401);
  });

  test("refuses a wrong token", async () => {
    const response = await get("/products/10", `${TOKEN}-wrong`);
    expect(response.status).toBe(401);
  });
});

describe("web client", () => {
  test("shows the catalogue", async () => {
    const products = await new ProductClient(BASE, TOKEN).products();
    expect(products.map((p) => p.name)).toContain("Gem Visa");
  });

  test("shows nothing for an unknown product", async () => {
    expect(await new ProductClient(BASE, TOKEN).product("999")).toBeNull();
  });
});
