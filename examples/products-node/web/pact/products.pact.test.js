"use strict";
// The web consumer's pact with the products API (WebConsumer -> ProductService),
// written by pact-js to contracts/pacts/ when `npm run pact` runs this file.
// Not part of the integration suite: interlock verifies the pact it writes.

const path = require("node:path");
const { PactV3, MatchersV3 } = require("@pact-foundation/pact");
const { ProductClient } = require("../client");

const { like, eachLike, string } = MatchersV3;
const TOKEN = "token-recorded-by-the-consumer";

const provider = new PactV3({
  consumer: "WebConsumer",
  provider: "ProductService",
  dir: path.resolve(__dirname, "../../contracts/pacts"),
  logLevel: "warn",
});

const product = { id: "10", type: "CREDIT_CARD", name: "28 Degrees", version: "v1" };
const authorization = { Authorization: string(`Bearer ${TOKEN}`) };

describe("web -> products", () => {
  test("lists the products", () => {
    provider
      .given("products exist")
      .uponReceiving("a request to get all products")
      .withRequest({ method: "GET", path: "/products", headers: authorization })
      .willRespondWith({ status: 200, headers: { "Content-Type": "application/json; charset=utf-8" }, body: eachLike(product) });
    return provider.executeTest(async (mock) => {
      const products = await new ProductClient(mock.url, TOKEN).products();
      expect(products).toEqual([product]);
    });
  });

  test("lists no products when there are none", () => {
    provider
      .given("no products exist")
      .uponReceiving("a request to get all products")
      .withRequest({ method: "GET", path: "/products", headers: authorization })
      .willRespondWith({ status: 200, headers: { "Content-Type": "application/json; charset=utf-8" }, body: [] });
    return provider.executeTest(async (mock) => {
      expect(await new ProductClient(mock.url, TOKEN).products()).toEqual([]);
    });
  });

  test("gets one product", () => {
    provider
      .given("product with ID exists", { id: "10", name: "28 Degrees" })
      .uponReceiving("a request to get a product")
      .withRequest({ method: "GET", path: "/products/10", headers: authorization })
      .willRespondWith({ status: 200, headers: { "Content-Type": "application/json; charset=utf-8" }, body: like(product) });
    return provider.executeTest(async (mock) => {
      expect(await new ProductClient(mock.url, TOKEN).product("10")).toEqual(product);
    });
  });

  test("gets nothing for an unknown product", () => {
    provider
      .given("product with ID does not exist", { id: "11" })
      .uponReceiving("a request to get a product")
      .withRequest({ method: "GET", path: "/products/11", headers: authorization })
      .willRespondWith({ status: 404 });
    return provider.executeTest(async (mock) => {
      expect(await new ProductClient(mock.url, TOKEN).product("11")).toBeNull();
    });
  });
});
