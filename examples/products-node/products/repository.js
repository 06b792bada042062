"use strict";
// The product catalogue, in memory: the seed below at start, rewritten by
// provider states during contract verification.

const SEED = [
  { id: "09", type: "CREDIT_CARD", name: "Gem Visa", version: "v1" },
  { id: "10", type: "CREDIT_CARD", name: "28 Degrees", version: "v1" },
  { id: "11", type: "PERSONAL_LOAN", name: "MyFlexiPay", version: "v2" },
];

class ProductRepository {
  constructor(products = SEED) {
    this.products = new Map();
    this.reset(products);
  }

  reset(products = SEED) {
    this.products = new Map(products.map((p) => [p.id, { ...p }]));
  }

  clear() {
    this.products.clear();
  }

  all() {
    return [...this.products.values()];
  }

  byId(id) {
    return this.products.get(String(id));
  }

  put(product) {
    this.products.set(String(product.id), { ...product, id: String(product.id) });
  }

  remove(id) {
    this.products.delete(String(id));
  }
}

module.exports = { ProductRepository, SEED };
