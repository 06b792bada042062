"""MQTT: the probe (a real round trip through the broker) and the capture (a subscription acknowledged by SUBACK).

The probe subscribes to a topic no one else uses, publishes to it and waits for
its own message to come back, which proves that the broker accepts the client,
routes messages and delivers them. paho-mqtt is a blocking client with its own
network thread, so the exchange runs in a worker thread and always disconnects.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from interlock.brokers.base import BrokerKind, Captured, CaptureFailed, NoMessage, plain
from interlock.checks import Check, timed
from interlock.probes import connect_failure, host_port, redact_url

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt
    from paho.mqtt.reasoncodes import ReasonCode

DEFAULT_PORT = 1883


def _client(url: str, client_id: str, timeout: float, v5: bool = False) -> tuple[mqtt.Client, str, int]:
    """A paho client for `url` (credentials and TLS set), its host and port; not yet connected."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    parts = urlsplit(url)
    options: dict[str, Any] = {"protocol": mqtt.MQTTv5} if v5 else {}
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, **options)
    client.connect_timeout = timeout
    if parts.username:
        client.username_pw_set(unquote(parts.username), unquote(parts.password) if parts.password else None)
    if parts.scheme == "mqtts":
        client.tls_set()
    return client, parts.hostname or "localhost", parts.port or _default_port(url)


def _default_port(url: str) -> int:
    return 8883 if urlsplit(url).scheme == "mqtts" else DEFAULT_PORT


async def probe_mqtt(
    check_id: str, url: str, *, topic_prefix: str = "interlock/probe", timeout: float = 5.0
) -> Check:
    """Connect, subscribe to ``{topic_prefix}/{uuid}``, publish there and time the message's return."""
    check = Check(check_id, "mqtt", redact_url(url))
    with timed(check):
        await asyncio.to_thread(_round_trip, check, url, f"{topic_prefix}/{uuid.uuid4().hex}", timeout)
    return check


class _Session:
    """What paho's callbacks report, handed over to the probing thread through events."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.received = threading.Event()
        self.refusal: str | None = None
        self.lost = False

    def on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, code: ReasonCode, props: Any) -> None:
        if code.is_failure:
            self.refusal = f"connection refused by broker: {code}"
        self.connected.set()

    def on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, codes: list[ReasonCode], props: Any) -> None:
        if any(code.is_failure for code in codes):
            self.refusal = f"subscription to {self.topic} refused: {codes[0]}"
        self.subscribed.set()

    def on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == self.topic:
            self.received.set()

    def on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, code: ReasonCode, props: Any) -> None:
        """The broker hung up: wake every wait at once instead of letting each run out its timeout."""
        self.lost = True
        for event in (self.connected, self.subscribed, self.received):
            event.set()


def _round_trip(check: Check, url: str, topic: str, timeout: float) -> None:
    """Run the whole exchange in this thread; every step waits at most `timeout` seconds."""
    where = host_port(url, _default_port(url))
    session = _Session(topic)
    client, host, port = _client(url, f"interlock-{uuid.uuid4().hex[:12]}", timeout)
    client.on_connect, client.on_subscribe, client.on_message, client.on_disconnect = (
        session.on_connect,
        session.on_subscribe,
        session.on_message,
        session.on_disconnect,
    )
    try:
        client.connect(host, port)
    except (OSError, ValueError) as exc:
        check.fail(connect_failure(where, exc, url, "broker"))
        return
    client.loop_start()
    closed = f"{where}: connection closed by the broker"
    try:
        if not session.connected.wait(timeout):
            check.fail(f"{where}: no CONNACK within {timeout}s")
            return
        if session.refusal is None and not session.lost:
            client.subscribe(topic, qos=1)
            if not session.subscribed.wait(timeout):
                check.fail(f"{where}: no SUBACK for {topic} within {timeout}s")
                return
        if session.refusal is not None or session.lost:
            check.fail(f"{where}: {session.refusal}" if session.refusal is not None else closed)
            return
        start = time.perf_counter()
        client.publish(topic, b"interlock probe", qos=1)
        if not session.received.wait(timeout):
            check.fail(f"{where}: message published to {topic} did not come back within {timeout}s")
            return
        if session.lost:
            check.fail(closed)
            return
        latency_ms = round((time.perf_counter() - start) * 1000, 3)
        check.ok(f"{where}: round trip through {topic} in {latency_ms:.0f} ms", round_trip_ms=latency_ms, topic=topic)
    finally:
        client.disconnect()
        client.loop_stop()


MQTT_PROPERTIES = ("PayloadFormatIndicator", "ResponseTopic", "CorrelationData", "MessageExpiryInterval")


def mqtt_properties(properties: Any) -> dict[str, Any]:
    """The MQTT 5 publish properties the producer set (besides ContentType and UserProperty); none in MQTT 3.1.1."""
    values = {name: getattr(properties, name, None) for name in MQTT_PROPERTIES}
    return {name: plain(value) for name, value in values.items() if value is not None}


def _capture(url: str, topic: str, trigger: Callable[[], None], timeout: float, settle: float) -> list[Captured]:
    where = host_port(url, _default_port(url))
    connected, subscribed = threading.Event(), threading.Event()
    refusal: list[str] = []
    inbox: queue.Queue[Captured | None] = queue.Queue()  # None: the broker dropped the connection
    closing = threading.Event()

    def on_connect(client: Any, userdata: Any, flags: Any, code: Any, props: Any) -> None:
        if code.is_failure:
            refusal.append(f"connection refused by broker: {code}")
        connected.set()

    def on_subscribe(client: Any, userdata: Any, mid: int, codes: list[Any], props: Any) -> None:
        if any(c.is_failure for c in codes):
            refusal.append(f"subscription to {topic} refused: {codes[0]}")
        subscribed.set()

    def on_message(client: Any, userdata: Any, message: Any) -> None:
        if message.retain:
            return  # a retained message was published before the trigger: not this producer's answer
        properties = getattr(message, "properties", None)
        headers = {str(k): v for k, v in (getattr(properties, "UserProperty", None) or [])}
        content_type = getattr(properties, "ContentType", None) or None
        inbox.put(Captured(bytes(message.payload), headers, content_type, mqtt_properties(properties)))

    def on_disconnect(client: Any, userdata: Any, flags: Any, code: Any, props: Any) -> None:
        if closing.is_set():
            return
        refusal.append("connection closed by the broker")
        connected.set()
        subscribed.set()
        inbox.put(None)

    client, host, port = _client(url, f"interlock-capture-{uuid.uuid4().hex[:12]}", min(timeout, 5.0), v5=True)
    client.on_connect, client.on_subscribe, client.on_message, client.on_disconnect = on_connect, on_subscribe, on_message, on_disconnect
    try:
        client.connect(host, port)
    except (OSError, ValueError) as exc:
        raise CaptureFailed(f"cannot subscribe on MQTT {redact_url(url)}: {connect_failure(where, exc, url, 'broker')}") from None
    client.loop_start()
    found: list[Captured] = []
    try:
        if not connected.wait(timeout) or refusal:
            raise CaptureFailed(f"MQTT {where}: {refusal[0] if refusal else f'no CONNACK within {timeout:g}s'}")
        client.subscribe(topic, qos=1)
        if not subscribed.wait(timeout) or refusal:
            raise CaptureFailed(f"MQTT {where}: {refusal[0] if refusal else f'no SUBACK for {topic} within {timeout:g}s'}")
        trigger()
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                message = inbox.get(timeout=remaining)
            except queue.Empty:
                break
            if message is None:
                if found:
                    break  # what arrived before the drop is still the producer's answer
                raise CaptureFailed(f"MQTT {where}: connection closed by the broker")
            found.append(message)
            if settle <= 0:
                break
            deadline = min(deadline, time.monotonic() + settle)
    finally:
        closing.set()
        client.disconnect()
        client.loop_stop()
    if not found:
        raise NoMessage(topic, timeout, f"MQTT {where}")
    return found


async def probe(check_id: str, broker: Mapping[str, Any], version_spec: str | None, timeout: float) -> Check:
    """A round trip; MQTT reports no server version, so a baseline range for it stays unverified."""
    return await probe_mqtt(check_id, broker["url"], timeout=timeout)


def capture(broker: Mapping[str, Any], topic: str, trigger: Callable[[], None], timeout: float, settle: float) -> list[Captured]:
    """`topic` is the MQTT topic."""
    return _capture(broker["url"], topic, trigger, timeout, settle)


KIND = BrokerKind("mqtt", component="mqtt", default_port=DEFAULT_PORT, probe=probe, capture=capture)
