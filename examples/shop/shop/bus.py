"""The message bus between orders (publisher) and shipping (consumer).

``SHOP_BUS_URL`` picks the transport:

* ``sqlite:///PATH`` - interlock's "embedded log": an append-only ``messages``
  table. Consumers keep their own offset in ``consumer_offsets`` and nobody
  deletes rows, so an outside reader (interlock) can observe every message
  without taking it from the consumer.
* ``amqp://...`` - RabbitMQ: durable topic exchange ``shop.events``, routing
  key = topic, one durable queue per consumer bound to its topic.

Delivery is at least once on both; consumers must be idempotent. Each
publish is an OpenTelemetry producer span whose context travels in the
message headers (``traceparent``), and each delivery a consumer span in that
trace (``shop.telemetry``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

import aio_pika
from sqlalchemy import text

from shop.db import default_sqlite_url, make_engine, ping, utc_now
from shop.telemetry import consuming, producing, untraced

#: The topic exchange; ``SHOP_EXCHANGE`` gives a deployment (or a test run) one of its own,
#: and each consumer's queue is named after it, so two shops on one broker never share messages.
EXCHANGE = os.environ.get("SHOP_EXCHANGE", "shop.events")
POLL_SECONDS = 0.2
RETRY_SECONDS = 1.0
STALE_SECONDS = 5.0
log = logging.getLogger("bus")

SQLITE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL,"
    " headers TEXT NOT NULL, body TEXT NOT NULL, published_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS consumer_offsets (consumer TEXT PRIMARY KEY, last_id INTEGER NOT NULL)",
)


@dataclass(frozen=True)
class Message:
    """A delivered message; ``body`` is the raw text, the consumer decides if it is valid."""

    id: str
    topic: str
    headers: dict[str, Any]
    body: str


MessageHandler = Callable[[Message], None]
"""Returns normally to acknowledge; raising makes the bus redeliver after a pause."""


class Bus(Protocol):
    """What the services need from a transport."""

    def publish(self, topic: str, body: dict[str, Any], headers: dict[str, str]) -> None:
        """Send ``body`` as JSON; returns once the transport has stored it."""

    def consume(self, topic: str, consumer: str, handler: MessageHandler, stop: threading.Event) -> None:
        """Deliver ``topic`` to ``handler`` until ``stop`` is set."""

    def healthy(self) -> str | None:
        """``None`` when the transport answers, else the reason."""

    def consuming(self) -> bool:
        """True while a ``consume`` loop is running and recently reached the transport."""

    def close(self) -> None:
        """Release connections."""


def traced(system: str, handler: MessageHandler) -> MessageHandler:
    """``handler`` inside a consumer span that continues the trace the message's headers carry."""

    def handle(message: Message) -> None:
        with consuming(system, message.topic, message.id, message.headers):
            handler(message)

    return handle


def bus_url() -> str:
    """The bus URL from ``SHOP_BUS_URL``, or the demo's SQLite log file."""
    return os.environ.get("SHOP_BUS_URL") or default_sqlite_url("bus.db")


def open_bus(url: str | None = None) -> Bus:
    """The transport for ``url`` (default ``SHOP_BUS_URL``)."""
    url = url or bus_url()
    if url.startswith("sqlite"):
        return SqliteLogBus(url)
    if url.startswith(("amqp://", "amqps://")):
        return AmqpBus(url)
    raise ValueError(f"SHOP_BUS_URL: unsupported scheme in {url!r} (use sqlite:/// or amqp://)")


class SqliteLogBus:
    """The embedded log: publish appends a row; consumers poll past their offset."""

    system = "embedded-log"

    def __init__(self, url: str) -> None:
        self._engine = make_engine(url)
        self._beat = 0.0
        with untraced(), self._engine.begin() as conn:
            for statement in SQLITE_SCHEMA:
                conn.execute(text(statement))

    def publish(self, topic: str, body: dict[str, Any], headers: dict[str, str]) -> None:
        headers = dict(headers)
        with producing(self.system, topic, headers), untraced(), self._engine.begin() as conn:
            conn.execute(
                text("INSERT INTO messages (topic, headers, body, published_at) VALUES (:t, :h, :b, :p)"),
                {"t": topic, "h": json.dumps(headers), "b": json.dumps(body), "p": utc_now()},
            )

    def consume(self, topic: str, consumer: str, handler: MessageHandler, stop: threading.Event) -> None:
        handler = traced(self.system, handler)
        last_id = self._offset(consumer)
        while not stop.is_set():
            try:
                with untraced(), self._engine.connect() as conn:
                    rows = conn.execute(
                        text("SELECT id, topic, headers, body FROM messages"
                             " WHERE topic = :t AND id > :last ORDER BY id LIMIT 100"),
                        {"t": topic, "last": last_id},
                    ).all()
            except Exception:
                log.exception("cannot read the log; retrying")
                stop.wait(RETRY_SECONDS)
                continue
            self._beat = time.monotonic()
            if not rows:
                stop.wait(POLL_SECONDS)
            for row in rows:
                if not self._deliver(row, handler):
                    stop.wait(RETRY_SECONDS)
                    break
                last_id = row.id
                self._save_offset(consumer, last_id)
        self._beat = 0.0

    def _deliver(self, row: Any, handler: MessageHandler) -> bool:
        """Hand one row over; False means "retry it" (the handler failed)."""
        try:
            headers = json.loads(row.headers)
            if not isinstance(headers, dict):
                raise ValueError("headers are not a JSON object")
        except ValueError as exc:
            log.warning("skipping message %s: malformed headers (%s)", row.id, exc)
            return True
        try:
            handler(Message(str(row.id), row.topic, headers, row.body))
        except Exception:
            log.exception("handler failed on message %s; will redeliver", row.id)
            return False
        return True

    def _offset(self, consumer: str) -> int:
        with untraced(), self._engine.connect() as conn:
            value = conn.execute(
                text("SELECT last_id FROM consumer_offsets WHERE consumer = :c"), {"c": consumer}
            ).scalar()
        return int(value or 0)

    def _save_offset(self, consumer: str, last_id: int) -> None:
        """Persist the offset; on failure the next save catches up (at least once)."""
        try:
            with untraced(), self._engine.begin() as conn:
                conn.execute(
                    text("INSERT INTO consumer_offsets (consumer, last_id) VALUES (:c, :i)"
                         " ON CONFLICT (consumer) DO UPDATE SET last_id = excluded.last_id"),
                    {"c": consumer, "i": last_id},
                )
        except Exception:
            log.exception("cannot save offset %s for %s", last_id, consumer)

    def healthy(self) -> str | None:
        with untraced():
            return ping(self._engine)

    def consuming(self) -> bool:
        return time.monotonic() - self._beat < STALE_SECONDS

    def close(self) -> None:
        self._engine.dispose()


class AmqpBus:
    """RabbitMQ through aio-pika, driven from sync code by a private event loop thread."""

    system = "rabbitmq"

    def __init__(self, url: str) -> None:
        self._url = url
        self._beat = 0.0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="amqp-loop", daemon=True)
        self._thread.start()
        self._connection: aio_pika.abc.AbstractRobustConnection
        self._exchange: aio_pika.abc.AbstractExchange
        self._run(self._connect(), timeout=15)

    def _run(self, coro: Coroutine[Any, Any, Any], timeout: float | None = 10) -> Any:
        """Run ``coro`` on the bus loop; on timeout cancel it, so a late publish cannot happen."""
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    async def _connect(self) -> None:
        self._connection = await aio_pika.connect_robust(self._url)
        channel = await self._connection.channel(publisher_confirms=True)
        self._exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)

    def publish(self, topic: str, body: dict[str, Any], headers: dict[str, str]) -> None:
        headers = dict(headers)
        with producing(self.system, topic, headers):
            message = aio_pika.Message(
                json.dumps(body).encode(),
                content_type="application/json",
                headers=dict(headers),
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=str(uuid.uuid4()),
            )
            self._run(self._exchange.publish(message, routing_key=topic))

    def consume(self, topic: str, consumer: str, handler: MessageHandler, stop: threading.Event) -> None:
        self._run(self._consume(topic, consumer, traced(self.system, handler), stop), timeout=None)

    async def _consume(self, topic: str, consumer: str, handler: MessageHandler, stop: threading.Event) -> None:
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=10)
        exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(f"{EXCHANGE}.{consumer}", durable=True)
        await queue.bind(exchange, routing_key=topic)

        async def on_message(incoming: aio_pika.abc.AbstractIncomingMessage) -> None:
            headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in (incoming.headers or {}).items()}
            message = Message(incoming.message_id or "", incoming.routing_key or topic,
                              headers, incoming.body.decode("utf-8", errors="replace"))
            try:
                await asyncio.to_thread(handler, message)
            except Exception:
                log.exception("handler failed on message %s; will redeliver", message.id)
                await asyncio.sleep(RETRY_SECONDS)
                await incoming.nack(requeue=True)
                return
            await incoming.ack()

        tag = await queue.consume(on_message)
        try:
            while not stop.is_set():
                if self._connection.connected.is_set():
                    self._beat = time.monotonic()
                await asyncio.sleep(POLL_SECONDS)
        finally:
            self._beat = 0.0
            await queue.cancel(tag)
            await channel.close()

    def healthy(self) -> str | None:
        return None if self._connection.connected.is_set() else "not connected to RabbitMQ"

    def consuming(self) -> bool:
        return time.monotonic() - self._beat < STALE_SECONDS

    def close(self) -> None:
        try:
            self._run(self._connection.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
