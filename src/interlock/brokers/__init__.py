"""Broker kinds: one module per kind, registered in one table.

Each module (`amqp`, `embedded_log`, `mqtt`, `nats`, `redis`) builds one
`BrokerKind`: its probe, its message capture, its baseline component and its
default port. `KINDS` is the only list of kinds: the config accepts exactly its
keys (an unknown kind is a config error with file, line and key, never another
kind's probe), step 1.2 probes and the contracts capture through it. Adding a
kind is one new module and one line here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

from interlock.brokers.base import BrokerKind, Captured, CaptureFailed


class _Registry(MutableMapping[str, BrokerKind]):
    """Kind name -> `BrokerKind`, a kind's module imported when the kind is first used.

    The config only needs the names, and the kinds' modules bring asyncio and their
    probes (~25 ms of import that `interlock test` would pay on every run).
    """

    def __init__(self, modules: dict[str, str]) -> None:
        self._entries: dict[str, str | BrokerKind] = dict(modules)

    def __getitem__(self, name: str) -> BrokerKind:
        entry = self._entries[name]
        if isinstance(entry, str):
            kind: BrokerKind = importlib.import_module(entry).KIND
            self._entries[name] = entry = kind
        return entry

    def __setitem__(self, name: str, kind: BrokerKind) -> None:
        self._entries[name] = kind

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __contains__(self, name: object) -> bool:  # Mapping's own would load the kind's module
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


KINDS: MutableMapping[str, BrokerKind] = _Registry({
    "embedded-log": "interlock.brokers.embedded_log",
    "amqp": "interlock.brokers.amqp",
    "nats": "interlock.brokers.nats",
    "mqtt": "interlock.brokers.mqtt",
    "redis": "interlock.brokers.redis",
})

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
