"""Provider-state actions and message capture, run inside the pact worker process.

Setup and teardown steps (SQL on a store, an HTTP call, a command) put the
provider into the state an interaction assumes; a step that fails raises, so
the interaction fails with the step's error instead of being skipped.
Messages are captured from the real broker after triggering the provider.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import time
import uuid
from typing import Any

import httpx
import sqlalchemy


class ActionFailed(Exception):
    """A provider-state or trigger step did not succeed."""


def _sqlalchemy_url(kind: str, url: str) -> str:
    if kind == "postgresql" and url.startswith("postgresql://"):
        return url.replace("postgresql://", "postgresql+psycopg://", 1)
    if kind == "mysql" and url.startswith("mysql://"):
        return url.replace("mysql://", "mysql+pymysql://", 1)
    return url


def perform(action: dict[str, Any], stores: dict[str, dict[str, Any]]) -> None:
    """Run one setup/teardown/trigger action; raise ActionFailed with a one-line reason."""
    if action.get("sql") is not None:
        store = stores[action["store"]]
        engine = sqlalchemy.create_engine(_sqlalchemy_url(store["kind"], store["url"]))
        try:
            with engine.begin() as connection:
                for statement in (s for s in action["sql"].split(";") if s.strip()):
                    connection.execute(sqlalchemy.text(statement))
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise ActionFailed(f"SQL on store {action['store']!r} failed: {str(exc.orig if hasattr(exc, 'orig') else exc).splitlines()[0]}") from None
        finally:
            engine.dispose()
    elif action.get("http") is not None:
        call = action["http"]
        try:
            response = httpx.request(call["method"], call["url"], json=call.get("json"), timeout=10.0)
        except httpx.HTTPError as exc:
            raise ActionFailed(f"{call['method']} {call['url']} failed: {type(exc).__name__}: {exc}") from None
        if response.status_code not in call["expect_status"]:
            raise ActionFailed(f"{call['method']} {call['url']} answered {response.status_code}: {response.text[:200]}")
    elif action.get("command") is not None:
        done = subprocess.run(action["command"], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise ActionFailed(f"command {' '.join(action['command'])} exited {done.returncode}: {(done.stderr or done.stdout).strip()[-300:]}")


def _embedded_log_last_id(path: str) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
        return int(db.execute("SELECT COALESCE(MAX(id), 0) FROM messages").fetchone()[0])


def _embedded_log_capture(path: str, topic: str, after: int, timeout: float) -> tuple[bytes, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            row = db.execute("SELECT body, headers FROM messages WHERE id > ? AND topic = ? ORDER BY id LIMIT 1", (after, topic)).fetchone()
        if row:
            return row[0].encode("utf-8"), json.loads(row[1] or "{}")
        time.sleep(0.05)
    raise ActionFailed(f"no {topic!r} message on the embedded log within {timeout:g}s")


async def _amqp_capture(url: str, exchange: str, topic: str, trigger: Any, timeout: float) -> tuple[bytes, dict[str, Any]]:
    import aio_pika

    connection = await aio_pika.connect_robust(url, timeout=timeout)
    async with connection:
        channel = await connection.channel()
        target = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(f"interlock.capture.{uuid.uuid4().hex[:8]}", exclusive=True, auto_delete=True)
        await queue.bind(target, routing_key=topic)
        await asyncio.to_thread(trigger)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = await queue.get(no_ack=True, fail=False)
            if message is not None:
                return message.body, {k: (v.decode() if isinstance(v, bytes) else v) for k, v in (message.headers or {}).items()}
            await asyncio.sleep(0.05)
    raise ActionFailed(f"no {topic!r} message on exchange {exchange!r} within {timeout:g}s")


def capture(source: dict[str, Any], stores: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Trigger the provider and return the message it really published, as pact-python wants it."""
    broker, topic, timeout = source["broker"], source["topic"], float(source["timeout"])

    def trigger() -> None:
        perform(source["trigger"], stores)

    if broker["kind"] == "embedded-log":
        path = broker["url"].removeprefix("sqlite:///")
        after = _embedded_log_last_id(path)
        trigger()
        body, headers = _embedded_log_capture(path, topic, after, timeout)
    elif broker["kind"] == "amqp":
        body, headers = asyncio.run(_amqp_capture(broker["url"], broker.get("exchange") or "amq.topic", topic, trigger, timeout))
    else:
        raise ActionFailed(f"capturing messages from a {broker['kind']} broker is not implemented")
    return {"contents": body, "metadata": {**headers, "contentType": "application/json"}, "content_type": "application/json"}
