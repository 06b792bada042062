"""F-2 Place order, F-3 Ship order, F-4 Track order: orders -> catalog over HTTP,
orders -> shipping over the bus."""

import time

import httpx
import pytest

pytestmark = pytest.mark.integration


def _place(http: httpx.Client, orders_url: str, product_id: int, quantity: int) -> httpx.Response:
    return http.post(f"{orders_url}/orders", json={"product_id": product_id, "quantity": quantity})


@pytest.mark.critical
@pytest.mark.interface("orders:POST /orders")
@pytest.mark.interface("catalog:GET /products/{id}")
@pytest.mark.interface("shopdb:table orders")
def test_place_order(http: httpx.Client, orders_url: str, catalog_url: str) -> None:
    price = http.get(f"{catalog_url}/products/1").json()["price_cents"]
    response = _place(http, orders_url, 1, 3)
    assert response.status_code == 201
    order = response.json()
    assert order["status"] == "created"
    assert order["product_id"] == 1 and order["quantity"] == 3
    assert order["total_cents"] == price * 3
    assert order["currency"] == "EUR"


@pytest.mark.interface("orders:POST /orders")
@pytest.mark.interface("catalog:GET /products/{id}")
def test_unknown_product_is_422(http: httpx.Client, orders_url: str) -> None:
    response = _place(http, orders_url, 999, 1)
    assert response.status_code == 422
    assert response.json() == {"error": "unknown product", "product_id": 999}


@pytest.mark.interface("orders:POST /orders")
def test_bad_quantity_is_400(http: httpx.Client, orders_url: str) -> None:
    for body in ({"product_id": 1, "quantity": 0}, {"product_id": 1, "quantity": "2"}, {"product_id": 1}):
        response = http.post(f"{orders_url}/orders", json=body)
        assert response.status_code == 400, body
        assert "quantity" in response.json()["error"], body


@pytest.mark.interface("orders:GET /orders/{id}")
@pytest.mark.interface("shopdb:table orders")
def test_get_order(http: httpx.Client, orders_url: str) -> None:
    created = _place(http, orders_url, 2, 1).json()
    response = http.get(f"{orders_url}/orders/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created
    assert http.get(f"{orders_url}/orders/no-such-order").status_code == 404


@pytest.mark.interface("orders:publish order.created")
@pytest.mark.interface("shopdb:table shipments")
def test_order_is_shipped(http: httpx.Client, orders_url: str, shipping_url: str) -> None:
    order_id = _place(http, orders_url, 1, 1).json()["id"]
    deadline = time.monotonic() + 10
    items: list = []
    while time.monotonic() < deadline:
        items = http.get(f"{shipping_url}/shipments", params={"order_id": order_id}).json()["items"]
        if items:
            break
        time.sleep(0.2)
    assert len(items) == 1, f"no shipment for order {order_id} within 10 s"
    assert items[0]["order_id"] == order_id
    assert items[0]["status"] == "pending"
