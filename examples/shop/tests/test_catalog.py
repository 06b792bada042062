"""F-1 Browse catalog: the catalog answers with the seeded products."""

import httpx
import pytest

pytestmark = pytest.mark.integration


@pytest.mark.interface("catalog:GET /products")
def test_list_products(http: httpx.Client, catalog_url: str) -> None:
    response = http.get(f"{catalog_url}/products")
    assert response.status_code == 200
    items = response.json()["items"]
    assert len(items) >= 10
    assert {"id", "name", "price_cents", "currency", "stock"} <= set(items[0])


@pytest.mark.interface("catalog:GET /products/{id}")
def test_get_product(http: httpx.Client, catalog_url: str) -> None:
    response = http.get(f"{catalog_url}/products/1")
    assert response.status_code == 200
    product = response.json()
    assert product["id"] == 1
    assert product["currency"] == "EUR"
    assert product["stock"] > 0
    assert isinstance(product["price_cents"], int)


@pytest.mark.interface("catalog:GET /products/{id}")
def test_missing_product_is_404(http: httpx.Client, catalog_url: str) -> None:
    response = http.get(f"{catalog_url}/products/999")
    assert response.status_code == 404
    assert response.json() == {"error": "product not found", "id": 999}
