"use strict";
// The products API: GET /products, GET /products/:id behind a bearer token,
// GET /health and GET /version open, and POST /_pact/provider-states when
// PROVIDER_STATES=on (never in production: it rewrites the catalogue).

const http = require("node:http");
const { ProductRepository } = require("./repository");
const { changeState, StateError } = require("./states");
const { version } = require("../package.json");

const MAX_BODY = 64 * 1024;

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new StateError("body too large"));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      try {
        resolve(text ? JSON.parse(text) : {});
      } catch {
        reject(new StateError("the body is not JSON"));
      }
    });
    req.on("error", reject);
  });
}

function authorized(req, token) {
  const header = req.headers.authorization || "";
  return header === `Bearer ${token}`;
}

function createServer({ token, providerStates = false, repo = new ProductRepository(), log = () => {} }) {
  if (!token) {
    throw new Error("PRODUCT_TOKEN is not set: the API refuses to start without a token to check");
  }
  return http.createServer(async (req, res) => {
    const url = new URL(req.url, "http://localhost");
    res.on("finish", () => log(`${req.method} ${url.pathname} ${res.statusCode}`));
    try {
      if (req.method === "GET" && url.pathname === "/health") {
        return send(res, 200, { status: "ok" });
      }
      if (req.method === "GET" && url.pathname === "/version") {
        return send(res, 200, { version, node: process.version });
      }
      if (req.method === "POST" && url.pathname === "/_pact/provider-states" && providerStates) {
        changeState(repo, await readJson(req));
        return send(res, 200, {});
      }
      const item = url.pathname.match(/^\/products\/([^/]+)$/);
      if (req.method === "GET" && (url.pathname === "/products" || item)) {
        if (!authorized(req, token)) {
          return send(res, 401, { error: "Unauthorized" });
        }
        if (!item) {
          return send(res, 200, repo.all());
        }
        const product = repo.byId(decodeURIComponent(item[1]));
        return product ? send(res, 200, product) : send(res, 404, { message: "Product not found" });
      }
      return send(res, 404, { message: "Not found" });
    } catch (err) {
      if (err instanceof StateError) {
        return send(res, 400, { error: err.message });
      }
      log(`error: ${err.stack || err}`);
      return send(res, 500, { error: "internal error" });
    }
  });
}

if (require.main === module) {
  const port = Number(process.env.PORT || 8080);
  const server = createServer({
    token: process.env.PRODUCT_TOKEN,
    providerStates: process.env.PROVIDER_STATES === "on",
    log: (line) => process.stderr.write(`products: ${line}\n`),
  });
  server.listen(port, "127.0.0.1", () => process.stderr.write(`products: listening on 127.0.0.1:${port}\n`));
  const stop = () => server.close(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

module.exports = { createServer };
