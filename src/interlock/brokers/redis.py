"""Redis: the probe (PING, version, pinned settings) and the capture (the new entries of a stream, or
the messages PUBLISHed on a pub/sub channel, as the broker's `mode` says).

A Redis that answers but evicts keys (``maxmemory-policy``) or never persists
(``appendonly``) can still lose a system's data, so `config` pins the settings
that matter and the probe compares them with ``CONFIG GET``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from interlock.brokers.base import SILENCE_SLACK, BrokerKind, Captured, CaptureFailed, NoMessage, gather, plain, silent
from interlock.checks import Check, describe, timed
from interlock.probes import connect_failure, connection_lost, host_port, redact_url, scrub, version_problem

if TYPE_CHECKING:
    from redis.asyncio import Redis

DEFAULT_PORT = 6379
STREAM, PUBSUB = "stream", "pubsub"
"""The broker's `mode`: read a Redis Stream (XREAD, the default) or a pub/sub channel (SUBSCRIBE)."""
PAYLOAD_FIELDS = ("payload", "body", "data")


async def probe_redis(
    check_id: str,
    url: str,
    *,
    version_spec: str | None = None,
    config: Mapping[str, str] | None = None,
    timeout: float = 5.0,
) -> list[Check]:
    """``{id}``: PING and version; ``{id}.config`` (when `config` is given): each setting's value."""
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    target = redact_url(url)
    where = host_port(url, DEFAULT_PORT)
    main = Check(check_id, "redis", target)
    settings = Check(f"{check_id}.config", "redis", target) if config else None
    client = Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        with timed(main):
            try:
                await client.ping()
                version = str((await client.info("server")).get("redis_version", "unknown"))
            except (RedisError, OSError) as exc:
                reason = connect_failure(where, exc, url)
                main.fail(reason)
                if settings is not None:
                    settings.fail(f"not checked: {reason}")
                return [main] if settings is None else [main, settings]
            problem = version_problem(version, version_spec)
            if problem:
                main.fail(f"{where}: {problem}", server_version=version)
            else:
                main.ok(f"{where}: Redis {version}", server_version=version)
        if settings is not None and config:
            with timed(settings):
                try:
                    await _compare_config(client, settings, where, config)
                except (RedisError, OSError) as exc:
                    settings.fail(scrub(f"{where}: CONFIG GET failed: {describe(exc)}", url))
    finally:
        await client.aclose()
    return [main] if settings is None else [main, settings]


async def _compare_config(client: Redis, check: Check, where: str, expected: Mapping[str, str]) -> None:
    """Compare each expected setting with the server's ``CONFIG GET`` value."""
    actual: dict[str | None, str | None] = {}  # as redis-py types CONFIG GET
    for key in expected:
        actual.update(await client.config_get(key))
    wrong = [
        f"{key} is {actual[key]!r}, expected {value!r}" if key in actual else f"{key} is not a setting of this server"
        for key, value in expected.items()
        if actual.get(key) != value
    ]
    values = {key: actual.get(key) for key in expected}
    if wrong:
        check.fail(f"{where}: " + "; ".join(wrong), config=values)
    else:
        check.ok(f"{where}: {len(expected)} settings as expected", config=values)


def stream_entry(fields: dict[Any, Any]) -> Captured:
    """A Redis stream entry as a message: the `payload`/`body`/`data` field is the payload; a
    `headers` field (a JSON object) and every other field are headers. An entry without a
    payload field is itself the payload, as a JSON object of its fields."""
    entry = {plain(k): v for k, v in fields.items()}
    body_key = next((k for k in PAYLOAD_FIELDS if k in entry), None)
    if body_key is None:
        return Captured(json.dumps({k: plain(v) for k, v in entry.items()}).encode(), {})
    headers: dict[str, Any] = {}
    raw_headers = entry.pop("headers", None)
    if raw_headers is not None:
        try:
            parsed = json.loads(raw_headers)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise CaptureFailed("a stream entry's `headers` field is not a JSON object")
        headers.update(parsed)
    body = entry.pop(body_key)
    headers.update({k: plain(v) for k, v in entry.items()})
    return Captured(body if isinstance(body, bytes) else str(body).encode(), headers)


@contextmanager
def _failures(where: str, url: str, timeout: float) -> Iterator[None]:
    """A Redis error while waiting for a message, as the CaptureFailed that names what was read (key and mode) and why."""
    import redis

    try:
        yield
    except redis.TimeoutError:
        raise CaptureFailed(f"{where}: Redis {host_port(url, DEFAULT_PORT)}: {silent(timeout)}") from None
    except redis.ConnectionError as exc:
        raise CaptureFailed(f"{where}: Redis {connection_lost(host_port(url, DEFAULT_PORT), exc, url)}") from None
    except redis.RedisError as exc:
        raise CaptureFailed(f"{where} failed: {scrub(describe(exc), url)}") from None


def _capture_stream(url: str, stream: str, trigger: Callable[[], None], timeout: float, settle: float) -> list[Captured]:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=min(timeout, 5.0), socket_timeout=timeout + SILENCE_SLACK)
    try:
        try:  # `$` as of now: the newest entry before the trigger ("0-0" when the stream does not exist yet)
            newest = client.xrevrange(stream, count=1)
        except redis.RedisError as exc:
            raise CaptureFailed(f"cannot read stream {stream!r} on Redis {redact_url(url)}: {connect_failure(host_port(url, DEFAULT_PORT), exc, url, 'broker')}") from None
        last: Any = newest[0][0] if newest else b"0-0"
        trigger()

        found: list[Captured] = []
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            with _failures(f"XREAD on stream {stream!r}", url, timeout):
                # RESP2, the client's protocol: a list of [stream, [(id, fields), ...]]
                answer = cast("list[list[Any]] | None", client.xread({stream: last}, count=100, block=max(1, int(remaining * 1000))))
            for _, entries in answer or []:
                for entry_id, fields in entries:
                    last = entry_id
                    found.append(stream_entry(fields))
            if found:
                if settle <= 0:
                    break
                deadline = min(deadline, time.monotonic() + settle)
    finally:
        client.close()
    if not found:
        raise NoMessage(stream, timeout, f"Redis stream {stream!r}")
    return found


def _capture_pubsub(url: str, channel: str, trigger: Callable[[], None], timeout: float, settle: float) -> list[Captured]:
    """SUBSCRIBE to `channel` (confirmed by the server before the trigger), then take what is PUBLISHed on it.

    A pub/sub message is bare bytes: Redis carries no content type and no headers, so the message's
    content type is assumed from its bytes (`interlock.brokers.base.produced_type`).
    """
    import redis

    where = f"Redis pubsub channel {channel!r}"
    client = redis.Redis.from_url(url, socket_connect_timeout=min(timeout, 5.0), socket_timeout=timeout + SILENCE_SLACK)
    pubsub = client.pubsub()
    try:
        try:
            pubsub.subscribe(channel)
            confirmed = pubsub.get_message(timeout=min(timeout, 5.0))
        except redis.RedisError as exc:
            raise CaptureFailed(f"cannot subscribe to {where} on {redact_url(url)}: {connect_failure(host_port(url, DEFAULT_PORT), exc, url, 'broker')}") from None
        if not confirmed or confirmed.get("type") != "subscribe":
            raise CaptureFailed(f"SUBSCRIBE to {where}: Redis {host_port(url, DEFAULT_PORT)} did not confirm within {min(timeout, 5.0):g}s")
        trigger()

        def poll() -> list[Captured]:
            found = []
            with _failures(where, url, timeout):
                while (message := pubsub.get_message(timeout=0.05)) is not None:
                    if message.get("type") == "message":
                        data = message["data"]
                        found.append(Captured(data if isinstance(data, bytes) else str(data).encode()))
            return found

        return gather(poll, channel, timeout, settle, where, interval=0.0)
    finally:
        pubsub.close()
        client.close()


async def probe(check_id: str, broker: Mapping[str, Any], version_spec: str | None, timeout: float) -> list[Check]:
    """PING and compare the server version."""
    return await probe_redis(check_id, broker["url"], version_spec=version_spec, timeout=timeout)


def capture(broker: Mapping[str, Any], topic: str, trigger: Callable[[], None], timeout: float, settle: float) -> list[Captured]:
    """`topic` is the stream key (`mode = "stream"`, the default) or the pub/sub channel (`mode = "pubsub"`)."""
    mode = broker.get("mode") or STREAM
    if mode == PUBSUB:
        return _capture_pubsub(broker["url"], topic, trigger, timeout, settle)
    if mode != STREAM:
        raise CaptureFailed(f"Redis broker mode {mode!r} for key {topic!r} is not one of {STREAM!r}, {PUBSUB!r}")
    return _capture_stream(broker["url"], topic, trigger, timeout, settle)


KIND = BrokerKind("redis", component="redis", default_port=DEFAULT_PORT, probe=probe, capture=capture, modes=(STREAM, PUBSUB))
