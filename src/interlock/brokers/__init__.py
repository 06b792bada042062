"""Broker kinds: one module per kind, registered in one table.

Each module (`amqp`, `embedded_log`, `mqtt`, `nats`, `redis`) builds one
`BrokerKind`: its probe, its message capture, its baseline component and its
default port. `KINDS` is the only list of kinds: the config accepts exactly its
keys (an unknown kind is a config error with file, line and key, never another
kind's probe), step 1.2 probes and the contracts capture through it. Adding a
kind is one new module and one line here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from interlock.brokers import amqp, embedded_log, mqtt, nats, redis
from interlock.brokers.base import BrokerKind, Captured, CaptureFailed

KINDS: dict[str, BrokerKind] = {
    "embedded-log": embedded_log.KIND,
    "amqp": amqp.KIND,
    "nats": nats.KIND,
    "mqtt": mqtt.KIND,
    "redis": redis.KIND,
}

__all__ = ["KINDS", "BrokerKind", "capture_messages", "names"]


def names() -> tuple[str, ...]:
    """The broker kinds a config may name, in registry order."""
    return tuple(KINDS)


def capture_messages(broker: Mapping[str, Any], topic: str, trigger: Callable[[], None], timeout: float, *, settle: float = 0.0) -> list[Captured]:
    """Subscribe to `topic` on the broker, run `trigger`, and return what arrives within `timeout`.

    `broker` is the environment's broker table, `{"kind", "url", "exchange"}`,
    placeholders expanded. Interlock subscribes FIRST, then triggers the
    producer, then waits for what it published; after the first message,
    messages keep being collected for `settle` seconds. What `topic` means is
    the kind's (a routing key, a subject, a stream key, a topic). Raises
    NoMessage when nothing arrived, CaptureFailed when the broker could not be
    read, and whatever `trigger` raises.
    """
    kind = KINDS.get(broker["kind"])
    if kind is None:
        raise CaptureFailed(f"capturing messages from a {broker['kind']} broker is not implemented (known: {', '.join(KINDS)})")
    return kind.capture(broker, topic, trigger, timeout, settle)
