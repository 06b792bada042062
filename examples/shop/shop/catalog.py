"""catalog: the product catalogue over HTTP (port 18081).

It is the provider in the orders -> catalog Pact, so its product shape
(``id``, ``name``, ``price_cents``, ``currency``, ``stock``) is a contract:
change it and "a request for product 1" fails verification.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Engine, text

from shop.db import make_engine, ping
from shop import telemetry
from shop.web import App, Request, env_port, serve, setup_logging, shutdown, stop_event

PRODUCT_COLUMNS = "id, name, price_cents, currency, stock"


def _product(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "price_cents": row.price_cents,
            "currency": row.currency, "stock": row.stock}


def build_app(engine: Engine) -> App:
    """The catalog's routes over ``engine``."""
    app = App("catalog", health=lambda: ping(engine))

    def list_products(_request: Request) -> tuple[int, Any]:
        with engine.connect() as conn:
            rows = conn.execute(text(f"SELECT {PRODUCT_COLUMNS} FROM products ORDER BY id")).all()
        return 200, {"items": [_product(row) for row in rows]}

    def get_product(request: Request) -> tuple[int, Any]:
        if not re.fullmatch(r"-?[0-9]+", request.params["id"]):
            return 400, {"error": "product id must be an integer"}
        product_id = int(request.params["id"])
        with engine.connect() as conn:
            row = conn.execute(
                text(f"SELECT {PRODUCT_COLUMNS} FROM products WHERE id = :id"), {"id": product_id}
            ).first()
        if row is None:
            return 404, {"error": "product not found", "id": product_id}
        return 200, _product(row)

    app.route("GET", "/products", list_products)
    app.route("GET", "/products/{id}", get_product)
    return app


def main() -> None:
    """Serve until SIGTERM."""
    setup_logging()
    telemetry.setup("catalog")
    stop = stop_event()
    engine = make_engine()
    telemetry.instrument_engine(engine)
    app = build_app(engine)
    server = serve(app, env_port(18081))
    stop.wait()
    shutdown(app, server)
    engine.dispose()
    telemetry.shutdown()


if __name__ == "__main__":
    main()
