"""AsyncAPI contracts captured from this machine's real RabbitMQ, NATS, Redis (streams) and Mosquitto.

Each test uses channel names no one else uses and removes what it created
(the AMQP exchange, the Redis streams, the retained MQTT message); the servers'
settings are never touched. The trigger is a `command` action: a small
`python -c` publisher with the broker's own client library.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from interlock import runspec
from interlock.artifacts import ArtifactDir
from interlock.config import load
from interlock.contracts import asyncapi
from interlock.context import RunContext
from tests.support import orders_on_a_broker

pytestmark = pytest.mark.services

PUBLISHERS = {
    "amqp": (
        "import asyncio, json, sys, aio_pika\n"
        "async def main(url, exchange, key, headers, body):\n"
        "    connection = await aio_pika.connect(url)\n"
        "    async with connection:\n"
        "        channel = await connection.channel()\n"
        "        target = await channel.get_exchange(exchange, ensure=False)\n"
        "        await target.publish(aio_pika.Message(body.encode(), headers=json.loads(headers), content_type='application/json'), routing_key=key)\n"
        "asyncio.run(main(*sys.argv[1:]))\n"
    ),
    "nats": (
        "import asyncio, json, sys, nats\n"
        "async def main(url, subject, headers, body):\n"
        "    client = await nats.connect(url)\n"
        "    await client.publish(subject, body.encode(), headers=json.loads(headers) or None)\n"
        "    await client.flush()\n"
        "    await client.close()\n"
        "asyncio.run(main(*sys.argv[1:]))\n"
    ),
    "redis": (
        "import sys, redis\n"
        "url, stream, headers, body = sys.argv[1:]\n"
        "redis.Redis.from_url(url).xadd(stream, {'payload': body, 'headers': headers})\n"
    ),
    "mqtt": (
        "import json, sys\n"
        "from urllib.parse import urlsplit\n"
        "import paho.mqtt.client as mqtt\n"
        "from paho.mqtt.enums import CallbackAPIVersion\n"
        "from paho.mqtt.packettypes import PacketTypes\n"
        "from paho.mqtt.properties import Properties\n"
        "url, topic, headers, body = sys.argv[1:5]\n"
        "retain = len(sys.argv) > 5\n"
        "parts = urlsplit(url)\n"
        "client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)\n"
        "client.connect(parts.hostname, parts.port or 1883)\n"
        "client.loop_start()\n"
        "properties = Properties(PacketTypes.PUBLISH)\n"
        "if json.loads(headers):\n"
        "    properties.UserProperty = [(k, str(v)) for k, v in json.loads(headers).items()]\n"
        "client.publish(topic, body.encode(), qos=1, retain=retain, properties=properties).wait_for_publish(5)\n"
        "client.disconnect()\n"
        "client.loop_stop()\n"
    ),
}

GOOD = {"order_id": "3ca68efa-9b9e-4683-9c55-fd109ab7a234", "product_id": 1, "quantity": 2, "total_cents": 2598, "currency": "EUR", "created_at": "2026-11-26T11:16:12.178Z"}
HEADERS = {"event_type": "order.created", "schema_version": "1"}
MESSAGE = {
    "name": "order.created",
    "headers": {"type": "object", "required": ["event_type", "schema_version"], "properties": {"event_type": {"const": "order.created"}, "schema_version": {"const": "1"}}},
    "payload": {"$ref": "#/components/schemas/OrderCreated"},
}
SCHEMA = {
    "type": "object", "additionalProperties": False, "required": list(GOOD),
    "properties": {
        "order_id": {"type": "string", "format": "uuid"}, "product_id": {"type": "integer", "minimum": 1}, "quantity": {"type": "integer", "minimum": 1},
        "total_cents": {"type": "integer", "minimum": 0}, "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}, "created_at": {"type": "string", "format": "date-time"},
    },
}


def channel_names(kind: str) -> dict[str, str]:
    """Unique channel names in the broker's own style (MQTT topics use slashes)."""
    tag = uuid.uuid4().hex[:12]
    sep = "/" if kind == "mqtt" else "."
    return {role: sep.join(("interlock", "test", tag, role)) for role in ("good", "bad", "silent")}


def publisher(kind: str, url: str, exchange: str | None, topic: str, headers: Any, body: Any, *extra: str) -> list[str]:
    args = ["{python}", "-c", PUBLISHERS[kind], url] + ([exchange or "amq.topic"] if kind == "amqp" else [])
    return args + [topic, json.dumps(headers), json.dumps(body), *extra]


def system(root: Path, kind: str, url: str, names: dict[str, str], *, exchange: str | None = None, timeout: float = 5) -> RunContext:
    """A one-service system whose AsyncAPI document has the three channels, on the given broker."""
    root.mkdir(parents=True, exist_ok=True)
    document = {
        "asyncapi": "2.6.0", "info": {"title": "orders events", "version": "1.0.0"},
        "channels": {name: {"subscribe": {"message": {"$ref": "#/components/messages/OrderCreated"}}} for name in names.values()},
        "components": {"messages": {"OrderCreated": MESSAGE}, "schemas": {"OrderCreated": SCHEMA}},
    }
    (root / "events.yaml").write_text(yaml.safe_dump(document, sort_keys=False), "utf-8")
    bad = {**GOOD, "quantity": 0}
    triggers = {
        names["good"]: publisher(kind, url, exchange, names["good"], HEADERS, GOOD),
        names["bad"]: publisher(kind, url, exchange, names["bad"], HEADERS, bad),
        # the producer publishes, but somewhere else: nothing arrives on the channel
        names["silent"]: publisher(kind, url, exchange, names["silent"] + ".elsewhere" if kind != "mqtt" else names["silent"] + "/elsewhere", HEADERS, GOOD),
    }
    text = orders_on_a_broker("events.yaml", kind, url) + f"""{f'exchange = {json.dumps(exchange)}' if exchange else ''}
[contracts.asyncapi]
"""
    for name, command in triggers.items():
        text += f'[contracts.asyncapi.channels."{name}"]\nbroker = "bus"\ntimeout = {1 if name == names["silent"] else timeout}\ntrigger = {{ command = {json.dumps(command)} }}\n'
    (root / "interlock.toml").write_text(text, "utf-8")
    return RunContext(runspec.build(load(root / "interlock.toml"), "test"), ArtifactDir(root / "art"), lambda e: None, lambda k: (False, "test"), "run1")


def verdicts(ctx: RunContext, names: dict[str, str]) -> dict[str, dict[str, Any]]:
    [record] = asyncapi.verify(ctx)
    by_id = {i["id"]: i for i in record["interactions"]}
    return {role: by_id[f"orders:publish {name}"] for role, name in names.items()}


def assert_verdicts(found: dict[str, dict[str, Any]], names: dict[str, str]) -> None:
    assert found["good"]["status"] == "pass", found["good"]["mismatches"]
    assert found["bad"]["status"] == "fail"
    assert [(m["type"], m["path"], m["actual"]) for m in found["bad"]["mismatches"]] == [("PayloadMismatch", "$.payload.quantity", 0)]
    assert not found["bad"]["mismatches"][0]["message"].startswith("message ")  # exactly the one message the trigger caused
    assert found["silent"]["status"] == "fail"
    assert found["silent"]["mismatches"][0]["message"] == f"no message on {names['silent']} within 1s"


# --- RabbitMQ ------------------------------------------------------------------


async def _delete_exchange(url: str, name: str) -> None:
    import aio_pika

    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        await channel.exchange_delete(name)


def test_amqp_on_a_topic_exchange_of_its_own(tmp_path: Path, amqp_url: str) -> None:
    names = channel_names("amqp")
    exchange = f"interlock.test.{uuid.uuid4().hex[:12]}"
    try:  # interlock declares the (absent) exchange as the producers would: topic, durable
        found = verdicts(system(tmp_path, "amqp", amqp_url, names, exchange=exchange), names)
    finally:
        asyncio.run(_delete_exchange(amqp_url, exchange))
    assert_verdicts(found, names)


def test_amqp_on_the_default_amq_topic_exchange(tmp_path: Path, amqp_url: str) -> None:
    names = channel_names("amqp")  # amq.topic may only be declared passively: it is used as it is
    found = verdicts(system(tmp_path, "amqp", amqp_url, names), names)
    assert_verdicts(found, names)


# --- NATS ----------------------------------------------------------------------


def test_nats_subjects_with_headers(tmp_path: Path, nats_url: str) -> None:
    names = channel_names("nats")
    assert_verdicts(verdicts(system(tmp_path, "nats", nats_url, names), names), names)


# --- Redis streams -------------------------------------------------------------


def test_redis_streams_read_from_the_newest_entry_before_the_trigger(tmp_path: Path, redis_url: str) -> None:
    import redis

    names = channel_names("redis")
    client = redis.Redis.from_url(redis_url)
    try:
        # An entry published before interlock looked must not count as the producer's answer.
        client.xadd(names["silent"], {"payload": json.dumps(GOOD), "headers": json.dumps(HEADERS)})
        client.xadd(names["bad"], {"payload": json.dumps(GOOD), "headers": json.dumps(HEADERS)})
        found = verdicts(system(tmp_path, "redis", redis_url, names), names)
    finally:
        client.delete(*names.values(), *(n + ".elsewhere" for n in names.values()))
        client.close()
    assert_verdicts(found, names)


# --- Mosquitto -----------------------------------------------------------------


def test_mqtt_topics_with_user_properties_and_retained_messages_ignored(tmp_path: Path, mqtt_url: str) -> None:
    import subprocess
    import sys

    names = channel_names("mqtt")
    retained = publisher("mqtt", mqtt_url, None, names["silent"], HEADERS, GOOD, "retain")
    clear = publisher("mqtt", mqtt_url, None, names["silent"], {}, "", "retain")
    clear[-2] = ""  # an empty retained payload removes the retained message
    run = [sys.executable if a == "{python}" else a for a in retained]
    subprocess.run(run, check=True, timeout=30)
    try:
        found = verdicts(system(tmp_path, "mqtt", mqtt_url, names), names)
    finally:
        subprocess.run([sys.executable if a == "{python}" else a for a in clear], check=True, timeout=30)
    assert_verdicts(found, names)


# --- a broker that is not there --------------------------------------------------


@pytest.mark.parametrize("kind", ["amqp", "nats", "redis", "mqtt"])
def test_unreachable_broker_is_an_error_never_a_pass(tmp_path: Path, closed_port: int, kind: str) -> None:
    url = {"amqp": "amqp://guest:guest@127.0.0.1:{}/", "nats": "nats://127.0.0.1:{}", "redis": "redis://127.0.0.1:{}/0", "mqtt": "mqtt://127.0.0.1:{}"}[kind].format(closed_port)
    names = channel_names(kind)
    found = verdicts(system(tmp_path, kind, url, names, exchange="shop.events" if kind == "amqp" else None), names)
    for verdict in found.values():
        assert verdict["status"] == "error", verdict
        [mismatch] = verdict["mismatches"]
        assert mismatch["type"] == "BrokerError" and f"127.0.0.1:{closed_port}: connection refused" in mismatch["message"], mismatch
        assert ":guest@" not in mismatch["message"]  # the password is never echoed
