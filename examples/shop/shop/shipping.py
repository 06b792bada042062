"""shipping: consumes ``order.created`` and opens a pending shipment per order;
a small HTTP side (port 18083) serves ``/health``, ``/metrics`` and
``GET /shipments?order_id=X``.

The bus delivers at least once, so the insert is idempotent (one shipment per
order). A malformed message is logged, counted and skipped: one bad producer
must not stop shipping.
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

from sqlalchemy import Engine, text

from shop.bus import Bus, Message, MessageHandler, open_bus
from shop.db import make_engine, ping, utc_now
from shop import telemetry
from shop.web import App, Request, env_port, serve, setup_logging, shutdown, stop_event

TOPIC = "order.created"
CONSUMER = "shipping.order-created"
MESSAGES = "shop_messages_consumed_total"
EVENT_FIELDS = {"order_id": str, "product_id": int, "quantity": int, "total_cents": int,
                "currency": str, "created_at": str}


def parse_event(body: str) -> dict[str, Any] | str:
    """The ``order.created`` payload, or the reason it is malformed."""
    try:
        event = json.loads(body)
    except ValueError as exc:
        return f"body is not JSON ({exc})"
    if not isinstance(event, dict):
        return "body is not a JSON object"
    for field, kind in EVENT_FIELDS.items():
        if type(event.get(field)) is not kind:
            return f"{field} missing or not {kind.__name__}"
    return event


def build_app(engine: Engine, bus: Bus) -> App:
    """The HTTP side: healthy only while the consumer loop runs and the database answers."""

    def health() -> str | None:
        return ping(engine) or (None if bus.consuming() else "consumer loop not running")

    app = App("shipping", health=health)
    app.metrics.declare(MESSAGES, "counter", "Messages consumed, by topic and outcome.")

    def list_shipments(request: Request) -> tuple[int, Any]:
        sql = "SELECT id, order_id, status, created_at FROM shipments"
        params: dict[str, str] = {}
        if "order_id" in request.query:
            sql, params = sql + " WHERE order_id = :order_id", {"order_id": request.query["order_id"]}
        with engine.connect() as conn:
            rows = conn.execute(text(sql + " ORDER BY created_at DESC LIMIT 100"), params).all()
        return 200, {"items": [dict(row._mapping) for row in rows]}

    app.route("GET", "/shipments", list_shipments)
    return app


def make_handler(engine: Engine, app: App) -> MessageHandler:
    """The message handler: one pending shipment per valid ``order.created``."""

    def handle(message: Message) -> None:
        event = parse_event(message.body)
        if isinstance(event, str):
            app.log.warning("skipping malformed message %s on %s: %s", message.id, message.topic, event)
            app.metrics.inc(MESSAGES, {"service": "shipping", "topic": message.topic, "outcome": "malformed"})
            return
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO shipments (id, order_id, status, created_at)"
                     " VALUES (:id, :order_id, 'pending', :created_at) ON CONFLICT (order_id) DO NOTHING"),
                {"id": str(uuid.uuid4()), "order_id": event["order_id"], "created_at": utc_now()},
            )
        app.metrics.inc(MESSAGES, {"service": "shipping", "topic": message.topic, "outcome": "ok"})
        app.log.info("message %s: shipment pending for order %s", message.id, event["order_id"])

    return handle


def main() -> None:
    """Consume until SIGTERM; exit 1 if the consumer loop dies."""
    setup_logging()
    telemetry.setup("shipping")
    stop = stop_event()
    engine = make_engine()
    telemetry.instrument_engine(engine)
    bus = open_bus()
    app = build_app(engine, bus)
    server = serve(app, env_port(18083))
    failed = False
    try:
        bus.consume(TOPIC, CONSUMER, make_handler(engine, app), stop)
    except Exception:
        app.log.exception("consumer loop died")
        failed = True
    shutdown(app, server)
    bus.close()
    engine.dispose()
    telemetry.shutdown()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
