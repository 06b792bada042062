"use strict";
// The web front end's client of the products API: what the consumer "web"
// (WebConsumer in the pact) calls, with the bearer token it was given.

class ProductClient {
  constructor(baseUrl, token) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.token = token;
  }

  async request(path) {
    const response = await fetch(`${this.baseUrl}${path}`, {
      headers: { Accept: "application/json", Authorization: `Bearer ${this.token}` },
    });
    if (response.status === 404) {
      return null;
    }
    if (!response.ok) {
      throw new Error(`GET ${path}: ${response.status}`);
    }
    return response.json();
  }

  // Every product, or [] when there are none.
  async products() {
    return this.request("/products");
  }

  // One product, or null when the API does not know its id.
  async product(id) {
    return this.request(`/products/${encodeURIComponent(id)}`);
  }
}

module.exports = { ProductClient };
