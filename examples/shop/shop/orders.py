"""orders: takes orders over HTTP (port 18082), prices them with the catalog
and announces each one on the bus as ``order.created``.

It sits in the middle of all three pacts: consumer of catalog (HTTP), provider
to web (HTTP) and provider to shipping (messages).
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import httpx
from sqlalchemy import Engine, text

from shop.bus import Bus, open_bus
from shop.db import make_engine, ping, utc_now
from shop import telemetry
from shop.web import App, Request, env_port, serve, setup_logging, shutdown, stop_event

TOPIC = "order.created"
EVENT_HEADERS = {"event_type": "order.created", "schema_version": "1"}
MAX_QUANTITY = 10_000
ORDER_COLUMNS = "id, product_id, quantity, total_cents, currency, status"


def parse_order_request(payload: Any) -> tuple[int, int] | str:
    """(product_id, quantity) from a POST /orders body, or the reason it is invalid."""
    if not isinstance(payload, dict):
        return "body must be a JSON object"
    unknown = sorted(set(payload) - {"product_id", "quantity"})
    if unknown:
        return f"unexpected field(s): {', '.join(unknown)}"
    product_id, quantity = payload.get("product_id"), payload.get("quantity")
    if type(product_id) is not int or product_id < 1:
        return "product_id must be a positive integer"
    if type(quantity) is not int or not 1 <= quantity <= MAX_QUANTITY:
        return f"quantity must be an integer from 1 to {MAX_QUANTITY}"
    return product_id, quantity


def _order(row: Any) -> dict[str, Any]:
    return {"id": row.id, "product_id": row.product_id, "quantity": row.quantity,
            "total_cents": row.total_cents, "currency": row.currency, "status": row.status}


def build_app(engine: Engine, bus: Bus, catalog: httpx.Client) -> App:
    """The orders routes; ``catalog`` has the catalog's base URL."""
    app = App("orders", health=lambda: ping(engine) or bus.healthy())

    def create_order(request: Request) -> tuple[int, Any]:
        try:
            parsed = parse_order_request(request.json())
        except ValueError:
            return 400, {"error": "body is not valid JSON"}
        if isinstance(parsed, str):
            return 400, {"error": parsed}
        product_id, quantity = parsed
        try:
            response = catalog.get(f"/products/{product_id}")
        except httpx.HTTPError as exc:
            app.log.error("catalog unreachable: %s", exc)
            return 502, {"error": "catalog unavailable"}
        if response.status_code == 404:
            return 422, {"error": "unknown product", "product_id": product_id}
        if response.status_code != 200:
            return 502, {"error": f"catalog answered {response.status_code}"}
        try:
            product = response.json()
            price_cents, currency = int(product["price_cents"]), str(product["currency"])
        except (ValueError, KeyError, TypeError):
            app.log.error("catalog broke its contract: %s", response.text[:200])
            return 502, {"error": "catalog answered an unexpected product shape"}
        order = {"id": str(uuid.uuid4()), "product_id": product_id, "quantity": quantity,
                 "total_cents": price_cents * quantity, "currency": currency, "status": "created"}
        created_at = utc_now()
        event = {"order_id": order["id"], "product_id": product_id, "quantity": quantity,
                 "total_cents": order["total_cents"], "currency": order["currency"],
                 "created_at": created_at}
        try:
            # Publishing inside the transaction: if the bus refuses, the order is rolled back.
            with engine.begin() as conn:
                conn.execute(
                    text(f"INSERT INTO orders ({ORDER_COLUMNS}, created_at)"
                         " VALUES (:id, :product_id, :quantity, :total_cents, :currency, :status, :created_at)"),
                    {**order, "created_at": created_at},
                )
                bus.publish(TOPIC, event, EVENT_HEADERS)
        except Exception:
            app.log.exception("order %s not stored", order["id"])
            return 503, {"error": "order could not be stored"}
        return 201, order

    def get_order(request: Request) -> tuple[int, Any]:
        with engine.connect() as conn:
            row = conn.execute(
                text(f"SELECT {ORDER_COLUMNS} FROM orders WHERE id = :id"), {"id": request.params["id"]}
            ).first()
        if row is None:
            return 404, {"error": "order not found", "id": request.params["id"]}
        return 200, _order(row)

    app.route("POST", "/orders", create_order)
    app.route("GET", "/orders/{id}", get_order)
    return app


def main() -> None:
    """Serve until SIGTERM."""
    setup_logging()
    telemetry.setup("orders")
    stop = stop_event()
    engine = make_engine()
    telemetry.instrument_engine(engine)
    bus = open_bus()
    catalog = httpx.Client(base_url=os.environ.get("CATALOG_URL") or "http://127.0.0.1:18081",
                           headers={"Accept": "application/json"}, timeout=5.0)
    app = build_app(engine, bus, catalog)
    server = serve(app, env_port(18082))
    stop.wait()
    shutdown(app, server)
    catalog.close()
    bus.close()
    engine.dispose()
    telemetry.shutdown()


if __name__ == "__main__":
    main()
