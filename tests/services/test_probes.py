"""The broker, cache and TCP probes against this machine's real servers, and `run_all` deadlines.

Fault tests point the probes at a closed port or at a local server that
accepts and never answers; the shared servers are never touched. Anything a
test creates on a server (queue, exchange, stream) has a unique name and is
removed afterwards.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from urllib.parse import urlsplit

import aio_pika
import nats
import pytest
import redis

from interlock.probes import run_all
from interlock.brokers.amqp import probe_amqp
from interlock.brokers.mqtt import probe_mqtt
from interlock.brokers.nats import probe_nats
from interlock.brokers.redis import probe_redis
from interlock.probes.tcp import probe_tcp

pytestmark = pytest.mark.services


def with_port(url: str, port: int) -> str:
    """The same URL (credentials, path) on another local port."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    return parts._replace(netloc=f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}").geturl()


def assert_refused(reason: str | None, port: int) -> None:
    assert reason is not None and f"127.0.0.1:{port}: " in reason and "refused" in reason.lower(), reason


# --- Redis -----------------------------------------------------------------


def test_redis_passes_with_its_version_and_config(redis_url: str) -> None:
    policy = redis.Redis.from_url(redis_url).config_get("maxmemory-policy")["maxmemory-policy"]
    main, config = asyncio.run(
        probe_redis("cache", redis_url, version_spec=">=5", config={"maxmemory-policy": policy})
    )
    assert (main.kind, main.status, config.status) == ("redis", "pass", "pass"), (main.reason, config.reason)
    assert main.details["server_version"][0].isdigit()
    assert config.details["config"] == {"maxmemory-policy": policy}


def test_redis_config_and_version_mismatches_fail(redis_url: str) -> None:
    main, config = asyncio.run(
        probe_redis("cache", redis_url, version_spec="<1", config={"maxmemory-policy": "interlock-wrong"})
    )
    assert main.status == "fail"
    assert f"server version {main.details['server_version']} does not match <1" in main.reason
    assert config.status == "fail"
    assert "maxmemory-policy is " in config.reason and ", expected 'interlock-wrong'" in config.reason


def test_redis_on_a_wrong_port_fails(redis_url: str, closed_port: int) -> None:
    main, config = asyncio.run(probe_redis("cache", with_port(redis_url, closed_port), config={"x": "1"}))
    assert main.status == config.status == "fail"
    assert_refused(main.reason, closed_port)
    assert config.reason == f"not checked: {main.reason}"


# --- AMQP ------------------------------------------------------------------


def test_amqp_passes_with_existing_exchanges_and_queues(amqp_url: str) -> None:
    name = f"interlock.probe.{uuid.uuid4().hex}"

    async def scenario() -> list:
        connection = await aio_pika.connect(amqp_url)
        channel = await connection.channel()
        exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC)
        queue = await channel.declare_queue(name)
        try:
            return await probe_amqp("bus", amqp_url, exchanges=["amq.direct", name], queues=[name], version_spec=">=3")
        finally:
            await queue.delete(if_unused=False, if_empty=False)
            await exchange.delete()
            await connection.close()

    checks = asyncio.run(scenario())
    assert [c.id for c in checks] == ["bus", "bus.exchange.amq.direct", f"bus.exchange.{name}", f"bus.queue.{name}"]
    assert [c.status for c in checks] == ["pass"] * 4, [c.reason for c in checks]
    assert checks[0].details["server_version"][0].isdigit()
    assert checks[3].details == {"queue": name, "messages": 0, "consumers": 0}


def test_amqp_missing_exchange_and_queue_fail_naming_them(amqp_url: str) -> None:
    name = f"interlock.absent.{uuid.uuid4().hex}"
    main, exchange, queue = asyncio.run(probe_amqp("bus", amqp_url, exchanges=[name], queues=[name]))
    assert main.status == "pass"
    assert exchange.status == queue.status == "fail"
    assert exchange.reason.endswith(f": exchange '{name}' does not exist")
    assert queue.reason.endswith(f": queue '{name}' does not exist")


def test_amqp_wrong_version_wrong_port_and_bad_password_fail(amqp_url: str, closed_port: int) -> None:
    (wrong_version,) = asyncio.run(probe_amqp("bus", amqp_url, version_spec="<1"))
    assert wrong_version.status == "fail" and "does not match <1" in wrong_version.reason
    wrong_port, queue = asyncio.run(probe_amqp("bus", with_port(amqp_url, closed_port), queues=["q"]))
    assert_refused(wrong_port.reason, closed_port)
    assert queue.reason == f"not checked: {wrong_port.reason}"
    parts = urlsplit(amqp_url)
    bad = parts._replace(netloc=f"{parts.username or 'guest'}:wrong-pw-42@{parts.hostname}:{parts.port or 5672}")
    (denied,) = asyncio.run(probe_amqp("bus", bad.geturl()))
    assert denied.status == "fail" and "ACCESS_REFUSED" in denied.reason
    assert "wrong-pw-42" not in repr(denied.to_dict()) and ":***@" in denied.target


# --- NATS ------------------------------------------------------------------


def test_nats_passes_with_an_existing_stream(nats_url: str) -> None:
    stream = f"INTERLOCK_{uuid.uuid4().hex}"

    async def scenario() -> list:
        client = await nats.connect(nats_url)
        js = client.jetstream()
        await js.add_stream(name=stream, subjects=[f"interlock.{stream}.>"])
        try:
            return await probe_nats("events", nats_url, streams=[stream], version_spec=">=2.2")
        finally:
            await js.delete_stream(stream)
            await client.close()

    main, found = asyncio.run(scenario())
    assert (main.status, found.status) == ("pass", "pass"), (main.reason, found.reason)
    assert main.details["server_version"][0].isdigit()
    assert found.details == {"stream": stream, "subjects": [f"interlock.{stream}.>"], "messages": 0}


def test_nats_missing_stream_and_wrong_version_fail(nats_url: str) -> None:
    stream = f"INTERLOCK_ABSENT_{uuid.uuid4().hex}"
    main, missing = asyncio.run(probe_nats("events", nats_url, streams=[stream], version_spec="<1"))
    assert main.status == "fail" and "does not match <1" in main.reason
    assert missing.status == "fail"
    assert missing.reason.endswith(f": JetStream stream '{stream}' does not exist")


def test_nats_on_a_wrong_port_fails_fast(nats_url: str, closed_port: int) -> None:
    start = time.perf_counter()
    main, stream = asyncio.run(probe_nats("events", with_port(nats_url, closed_port), streams=["S"]))
    assert time.perf_counter() - start < 1.0
    assert_refused(main.reason, closed_port)
    assert stream.reason == f"not checked: {main.reason}"


# --- MQTT ------------------------------------------------------------------


def test_mqtt_round_trip_passes(mqtt_url: str) -> None:
    check = asyncio.run(probe_mqtt("telemetry", mqtt_url, topic_prefix="interlock/test"))
    assert (check.kind, check.status) == ("mqtt", "pass"), check.reason
    assert check.details["topic"].startswith("interlock/test/")
    assert check.details["round_trip_ms"] > 0


def test_mqtt_on_a_wrong_port_fails(mqtt_url: str, closed_port: int) -> None:
    check = asyncio.run(probe_mqtt("telemetry", with_port(mqtt_url, closed_port)))
    assert check.status == "fail"
    assert_refused(check.reason, closed_port)


def test_mqtt_on_a_silent_server_fails_within_its_timeout(silent_port: int) -> None:
    start = time.perf_counter()
    check = asyncio.run(probe_mqtt("telemetry", f"mqtt://127.0.0.1:{silent_port}", timeout=0.5))
    assert time.perf_counter() - start < 2.0
    assert check.reason == f"127.0.0.1:{silent_port}: no CONNACK within 0.5s"


# --- TCP -------------------------------------------------------------------


def test_tcp_passes_on_a_listening_port_and_fails_on_a_closed_one(redis_url: str, closed_port: int) -> None:
    parts = urlsplit(redis_url)
    ok = asyncio.run(probe_tcp("port", parts.hostname, parts.port or 6379))
    assert (ok.kind, ok.status) == ("tcp", "pass")
    bad = asyncio.run(probe_tcp("port", "127.0.0.1", closed_port))
    assert bad.status == "fail"
    assert_refused(bad.reason, closed_port)


# --- run_all deadlines -----------------------------------------------------


def test_run_all_fails_every_probe_of_a_server_that_never_answers(silent_port: int, mqtt_url: str) -> None:
    silent = f"127.0.0.1:{silent_port}"
    labels = [("cache", "redis", silent), ("bus", "amqp", silent), ("events", "nats", silent), ("mq", "mqtt", mqtt_url)]
    probes = [
        probe_redis("cache", f"redis://{silent}/0"),
        probe_amqp("bus", f"amqp://guest:guest@{silent}/"),
        probe_nats("events", f"nats://{silent}"),
        probe_mqtt("mq", mqtt_url),  # a healthy neighbour keeps its verdict
    ]
    start = time.perf_counter()
    checks = asyncio.run(run_all(probes, timeout=1.0, labels=labels))
    assert time.perf_counter() - start < 3.0
    assert [(c.id, c.kind, c.target) for c in checks[:3]] == labels[:3]
    assert [c.reason for c in checks[:3]] == ["no answer within 1.0s"] * 3
    assert all(c.status == "fail" and 900 <= c.duration_ms < 2000 for c in checks[:3])
    assert (checks[3].id, checks[3].status) == ("mq", "pass"), checks[3].reason
