"""What every broker kind provides, and the capture machinery the kinds share.

A `BrokerKind` is everything interlock knows about one kind of message broker:
its probe (step 1.2), its message capture (the AsyncAPI contracts and the pact
worker), the baseline `[versions]` key that ranges it and its default port.
Each kind module under `interlock.brokers` builds one and `interlock.brokers.KINDS`
registers it; nothing else in interlock names a broker kind.

Client libraries (aio-pika, nats-py, paho-mqtt, redis-py) are imported inside
the functions that use them, so that loading the registry (the config does, to
validate `kind`) costs no broker client.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

from interlock.checks import Check

SILENCE_SLACK = 2.0
"""How long past a capture's timeout a broker's reply may take before the broker counts as gone silent."""

class CaptureFailed(Exception):
    """The broker could not be subscribed to or read while capturing a producer's messages."""


class NoMessage(CaptureFailed):
    """The producer published nothing on the topic within the timeout."""

    def __init__(self, topic: str, timeout: float, where: str) -> None:
        self.topic, self.timeout, self.where = topic, timeout, where
        super().__init__(f"no {topic!r} message on {where} within {timeout:g}s")


@dataclass(frozen=True)
class Captured:
    """One message as it crossed the broker: the raw payload, its headers (metadata) and its content type.

    `content_type` is what the protocol itself carried (AMQP's property, MQTT 5's, a `Content-Type`
    header or stream field); None when the protocol carries none (Redis pub/sub, MQTT 3.1.1, a
    header-less NATS message): `produced_type` then says what is assumed.
    """

    body: bytes
    headers: dict[str, Any] = field(default_factory=dict)
    content_type: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    """The protocol's own message properties that were set, besides the content type (AMQP's
    `correlation_id`, `message_id`, `type`, ...; MQTT 5's `ResponseTopic`, ...)."""


CONTENT_TYPE_HEADERS = ("content-type", "content_type", "contenttype")


def header_type(headers: Mapping[str, Any]) -> str | None:
    """The content type a producer put among its headers (`Content-Type`, `content_type`, `contentType`), any case."""
    for name, value in headers.items():
        if str(name).lower() in CONTENT_TYPE_HEADERS and value:
            return str(value)
    return None


def sniffed_type(body: bytes) -> str:
    """The content type of a payload that came without one, judged as Pact itself does from the bytes:
    JSON, then XML, then UTF-8 text, else binary (`application/octet-stream`)."""
    try:
        json.loads(body)
        return "application/json"
    except ValueError:
        pass
    if body.lstrip().startswith(b"<"):
        try:
            ElementTree.fromstring(body)
            return "application/xml"
        except ElementTree.ParseError:
            pass
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain"


def produced_type(message: Captured) -> str:
    """The content type a message was produced with: the protocol's own, else assumed from its bytes."""
    return message.content_type or header_type(message.headers) or sniffed_type(message.body)


#: A kind's probe: (check id, the broker's config table with its URL expanded, the baseline's version range, timeout).
#: It never raises for a failure of the broker it probes: that is a failed check.
Probe = Callable[[str, Mapping[str, Any], str | None, float], Coroutine[Any, Any, Check | list[Check]]]
#: A kind's capture: (the broker's config table, topic, trigger, timeout, settle) → the messages that arrived.
Capture = Callable[[Mapping[str, Any], str, Callable[[], None], float, float], list[Captured]]


def server_version(check: Check | None) -> str | None:
    """The version a probe read from the server (``details.server_version``), None when it read none."""
    if check is None:
        return None
    version = check.details.get("server_version")
    return str(version) if version else None


@dataclass(frozen=True)
class BrokerKind:
    """One kind of broker: the `kind` of `[environments.E.brokers.NAME]` and everything interlock does with it."""

    name: str
    component: str
    """The baseline `[versions]` key that ranges this kind's server (an embedded log is a SQLite file)."""
    default_port: int | None
    """Where a URL without a port points (None: the broker is a file, not a server)."""
    probe: Probe
    capture: Capture
    observed_version: Callable[[Check | None], str | None] = server_version
    """The server version to compare with the baseline, from this kind's probe check (None: not read)."""
    modes: tuple[str, ...] = ()
    """The broker's `mode` values this kind reads in, the default first (none: the kind has one way and takes no `mode`)."""


def silent(timeout: float) -> str:
    """The reason for a broker that keeps the connection open but stopped answering."""
    return f"the broker stopped answering (no reply within {timeout + SILENCE_SLACK:g}s)"


def plain(value: Any) -> Any:
    """Header values as JSON-like data: bytes decoded, nested tables and lists converted."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def gather(poll: Callable[[], list[Captured]], topic: str, timeout: float, settle: float, where: str, interval: float = 0.05) -> list[Captured]:
    """Poll until a first message, then for `settle` seconds more; NoMessage when nothing came."""
    deadline = time.monotonic() + timeout
    found: list[Captured] = []
    while True:
        before = len(found)
        found += poll()
        if found and settle <= 0:
            return found
        now = time.monotonic()
        if before == 0 and found:
            deadline = min(deadline, now + settle)
        if now >= deadline:
            if found:
                return found
            raise NoMessage(topic, timeout, where)
        time.sleep(max(0.0, min(interval, deadline - now)))
