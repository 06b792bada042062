"""MQTT probe: a real round trip through the broker, not just an open port.

The probe subscribes to a topic no one else uses, publishes to it and waits for
its own message to come back, which proves that the broker accepts the client,
routes messages and delivers them. paho-mqtt is a blocking client with its own
network thread, so the exchange runs in a worker thread and always disconnects.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from interlock.checks import Check, timed
from interlock.probes import connect_failure, host_port, redact_url


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
    parts = urlsplit(url)
    default_port = 8883 if parts.scheme == "mqtts" else 1883
    where = host_port(url, default_port)
    session = _Session(topic)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"interlock-{uuid.uuid4().hex[:12]}")
    client.on_connect, client.on_subscribe, client.on_message, client.on_disconnect = (
        session.on_connect,
        session.on_subscribe,
        session.on_message,
        session.on_disconnect,
    )
    client.connect_timeout = timeout
    if parts.username:
        client.username_pw_set(unquote(parts.username), unquote(parts.password) if parts.password else None)
    if parts.scheme == "mqtts":
        client.tls_set()
    try:
        client.connect(parts.hostname or "localhost", parts.port or default_port)
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
