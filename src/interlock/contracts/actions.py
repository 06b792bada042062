"""Provider-state actions and message capture from the real broker.

Setup and teardown steps (SQL on a store, an HTTP call, a command) put the
provider into the state an interaction assumes; a step that fails raises, so
the interaction fails with the step's error instead of being skipped.

Messages are captured from the real broker: interlock subscribes FIRST (an
exclusive AMQP queue bound to the routing key, a NATS subscription flushed to
the server, an MQTT subscription acknowledged by SUBACK, the last id of a Redis
stream or of the embedded log), then triggers the producer, then waits for
what it published. Used by the pact worker (`capture`) and by the AsyncAPI
contracts (`capture_messages`).
"""

from __future__ import annotations

import asyncio
import json
import queue
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote, unquote, urlsplit

import httpx
import sqlalchemy

from interlock.checks import describe
from interlock.children import die_with_interlock
from interlock.probes import connect_failure, connection_lost, host_port, redact_url, scrub

if TYPE_CHECKING:
    from pact.types import Message


SILENCE_SLACK = 2.0
"""How long past a capture's timeout a broker's reply may take before the broker counts as gone silent."""


def silent(timeout: float) -> str:
    """The reason for a broker that keeps the connection open but stopped answering."""
    return f"the broker stopped answering (no reply within {timeout + SILENCE_SLACK:g}s)"


class ActionFailed(Exception):
    """A provider-state or trigger step did not succeed, or the broker could not be read."""


class NoMessage(ActionFailed):
    """The producer published nothing on the topic within the timeout."""

    def __init__(self, topic: str, timeout: float, where: str) -> None:
        self.topic, self.timeout, self.where = topic, timeout, where
        super().__init__(f"no {topic!r} message on {where} within {timeout:g}s")


@dataclass(frozen=True)
class Captured:
    """One message as it crossed the broker: the raw payload and its headers."""

    body: bytes
    headers: dict[str, Any] = field(default_factory=dict)


def _sqlalchemy_url(kind: str, url: str) -> str:
    if kind == "postgresql" and url.startswith("postgresql://"):
        return url.replace("postgresql://", "postgresql+psycopg://", 1)
    if kind == "mysql" and url.startswith("mysql://"):
        return url.replace("mysql://", "mysql+pymysql://", 1)
    return url


def perform(action: dict[str, Any], stores: dict[str, dict[str, Any]], *, env: dict[str, str] | None = None, cwd: str | None = None) -> None:
    """Run one setup/teardown/trigger action; raise ActionFailed with a one-line reason.

    `env` and `cwd` apply to a `command` action (default: this process's).
    """
    if action.get("sql") is not None:
        store = stores[action["store"]]
        engine = sqlalchemy.create_engine(_sqlalchemy_url(store["kind"], store["url"]))
        try:
            with engine.begin() as connection:
                for statement in (s for s in action["sql"].split(";") if s.strip()):
                    connection.execute(sqlalchemy.text(statement))
        except sqlalchemy.exc.SQLAlchemyError as exc:
            cause = getattr(exc, "orig", None) or exc
            raise ActionFailed("SQL failed on store " + connect_failure(repr(action["store"]), cause, store["url"], "database")) from None
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
        command = action["command"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                  preexec_fn=die_with_interlock())
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ActionFailed(f"command {' '.join(command)} could not run: {describe(exc)}") from None
        if done.returncode != 0:
            raise ActionFailed(f"command {' '.join(command)} exited {done.returncode}: {(done.stderr or done.stdout).strip()[-300:]}")


def _plain(value: Any) -> Any:
    """Header values as JSON-like data: bytes decoded, nested tables and lists converted."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# --- embedded log (a SQLite file with table messages) --------------------------


def _sqlite_path(url: str) -> str:
    """The file of a `sqlite:///PATH` URL, as a read-only SQLite URI."""
    return f"file:{quote(url.removeprefix('sqlite:///'))}?mode=ro"


def _embedded_log_last_id(path: str) -> int:  # path: a read-only SQLite URI
    """The newest message id; 0 when the log (file or table) does not exist yet."""
    try:
        with closing(sqlite3.connect(path, uri=True, timeout=5)) as db:
            return int(db.execute("SELECT COALESCE(MAX(id), 0) FROM messages").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def _embedded_log(url: str, topic: str, trigger: Callable[[], None], timeout: float, settle: float) -> list[Captured]:
    path = _sqlite_path(url)
    after = _embedded_log_last_id(path)
    trigger()

    def poll() -> list[Captured]:
        nonlocal after
        try:
            with closing(sqlite3.connect(path, uri=True, timeout=5)) as db:
                rows = db.execute("SELECT id, body, headers FROM messages WHERE id > ? AND topic = ? ORDER BY id", (after, topic)).fetchall()
        except sqlite3.OperationalError:
            return []  # not created yet: the producer may create it when it first publishes
        found = []
        for row_id, body, headers in rows:
            after = row_id
            try:
                parsed = json.loads(headers or "{}")
            except ValueError as exc:
                raise ActionFailed(f"message {row_id} on the embedded log has headers that are not JSON: {exc}") from None
            if not isinstance(parsed, dict):
                raise ActionFailed(f"message {row_id} on the embedded log has headers that are not a JSON object")
            found.append(Captured(body.encode("utf-8") if isinstance(body, str) else bytes(body or b""), parsed))
        return found

    return _gather(poll, topic, timeout, settle, "the embedded log")


def _gather(poll: Callable[[], list[Captured]], topic: str, timeout: float, settle: float, where: str, interval: float = 0.05) -> list[Captured]:
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


# --- AMQP 0-9-1 (RabbitMQ) -----------------------------------------------------


async def _unless_lost(call: Any, lost: asyncio.Future[Any]) -> Any:
    """Await an AMQP call, or raise as soon as the connection is lost.

    aiormq does not always fail a pending Basic.Get when its reader sees the
    socket close, so the call alone would wait out its whole timeout and call a
    hang-up a silent broker.
    """
    task = asyncio.ensure_future(call)
    await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        return task.result()
    task.cancel()
    await asyncio.wait({task})
    raise ConnectionResetError(f"connection closed: {lost.result()}")


async def _amqp(url: str, exchange: str, topic: str, trigger: Callable[[], None], timeout: float, settle: float) -> list[Captured]:
    import aio_pika
    from aio_pika.exceptions import AMQPError, ChannelNotFoundEntity

    where = f"exchange {exchange!r}"
    try:
        connection = await asyncio.wait_for(aio_pika.connect(url), timeout=max(timeout, 5.0))
    except (OSError, TimeoutError, AMQPError) as exc:
        raise ActionFailed(f"cannot subscribe on AMQP broker {redact_url(url)}: {connect_failure(host_port(url, 5672), exc, url, 'broker')}") from None
    found: list[Captured] = []
    try:
        async with connection:
            channel = await connection.channel()
            try:  # an existing exchange is used as it is, whatever its type (amq.* may only be declared passively)
                target = await channel.get_exchange(exchange, ensure=True)
            except ChannelNotFoundEntity:
                channel = await connection.channel()
                target = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
            capture_queue = await channel.declare_queue(f"interlock.capture.{uuid.uuid4().hex[:12]}", exclusive=True, auto_delete=True)
            await capture_queue.bind(target, routing_key=topic)
            lost = asyncio.get_running_loop().create_future()
            def on_close(_sender: object, exc: BaseException | None) -> None:
                if not lost.done():
                    lost.set_result(exc)

            connection.close_callbacks.add(on_close)
            await asyncio.to_thread(trigger)
            deadline = time.monotonic() + timeout
            while (remaining := deadline - time.monotonic()) > 0:
                message = await _unless_lost(capture_queue.get(no_ack=True, fail=False, timeout=remaining + SILENCE_SLACK), lost)
                if message is not None:
                    found.append(Captured(message.body, _plain(dict(message.headers or {}))))
                    if settle <= 0:
                        break
                    deadline = min(deadline, time.monotonic() + settle)
                    continue
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise ActionFailed(f"AMQP {host_port(url, 5672)}: {silent(timeout)}") from None
    except (AMQPError, OSError, RuntimeError) as exc:  # a closed channel is a RuntimeError to aiormq
        if not connection.is_closed:
            raise
        raise ActionFailed(f"AMQP {connection_lost(host_port(url, 5672), exc, url)}") from None
    if not found:
        raise NoMessage(topic, timeout, where)
    return found


# --- NATS ----------------------------------------------------------------------


async def _nats(url: str, subject: str, trigger: Callable[[], None], timeout: float, settle: float) -> list[Captured]:
    import nats
    from nats.errors import Error as NatsError
    from nats.errors import TimeoutError as NatsTimeout

    errors: list[Exception] = []

    async def record(exc: Exception) -> None:
        errors.append(exc)

    try:
        client = await nats.connect(url, connect_timeout=min(timeout, 5.0), allow_reconnect=False, max_reconnect_attempts=1, reconnect_time_wait=0, error_cb=record)
    except (NatsError, OSError) as exc:
        raise ActionFailed(f"cannot subscribe on NATS {redact_url(url)}: {connect_failure(host_port(url, 4222), errors[-1] if errors else exc, url, 'broker')}") from None
    found: list[Captured] = []
    try:
        subscription = await client.subscribe(subject)
        # the server has the SUB before the producer publishes; nats-py annotates an int but waits any number of seconds
        await client.flush(timeout=max(timeout, 1.0))  # type: ignore[arg-type]
        await asyncio.to_thread(trigger)
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                message = await subscription.next_msg(timeout=remaining)
            except NatsTimeout:
                break
            found.append(Captured(message.data, dict(message.headers or {})))
            if settle <= 0:
                break
            deadline = min(deadline, time.monotonic() + settle)
        await subscription.unsubscribe()
    except (NatsError, OSError) as exc:
        if not client.is_closed:
            raise
        raise ActionFailed(f"NATS {connection_lost(host_port(url, 4222), errors[-1] if errors else exc, url)}") from None
    finally:
        await client.close()
    if not found:
        raise NoMessage(subject, timeout, f"NATS {host_port(url, 4222)}")
    return found


# --- Redis streams -------------------------------------------------------------

PAYLOAD_FIELDS = ("payload", "body", "data")


def stream_entry(fields: dict[Any, Any]) -> Captured:
    """A Redis stream entry as a message: the `payload`/`body`/`data` field is the payload; a
    `headers` field (a JSON object) and every other field are headers. An entry without a
    payload field is itself the payload, as a JSON object of its fields."""
    entry = {_plain(k): v for k, v in fields.items()}
    body_key = next((k for k in PAYLOAD_FIELDS if k in entry), None)
    if body_key is None:
        return Captured(json.dumps({k: _plain(v) for k, v in entry.items()}).encode(), {})
    headers: dict[str, Any] = {}
    raw_headers = entry.pop("headers", None)
    if raw_headers is not None:
        try:
            parsed = json.loads(raw_headers)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise ActionFailed("a stream entry's `headers` field is not a JSON object")
        headers.update(parsed)
    body = entry.pop(body_key)
    headers.update({k: _plain(v) for k, v in entry.items()})
    return Captured(body if isinstance(body, bytes) else str(body).encode(), headers)


def _redis_stream(url: str, stream: str, trigger: Callable[[], None], timeout: float, settle: float) -> list[Captured]:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=min(timeout, 5.0), socket_timeout=timeout + SILENCE_SLACK)
    try:
        try:  # `$` as of now: the newest entry before the trigger ("0-0" when the stream does not exist yet)
            newest = client.xrevrange(stream, count=1)
        except redis.RedisError as exc:
            raise ActionFailed(f"cannot read stream {stream!r} on Redis {redact_url(url)}: {connect_failure(host_port(url, 6379), exc, url, 'broker')}") from None
        last: Any = newest[0][0] if newest else b"0-0"
        trigger()

        found: list[Captured] = []
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                # RESP2, the client's protocol: a list of [stream, [(id, fields), ...]]
                answer = cast("list[list[Any]] | None", client.xread({stream: last}, count=100, block=max(1, int(remaining * 1000))))
            except redis.TimeoutError:
                raise ActionFailed(f"XREAD on stream {stream!r}: Redis {host_port(url, 6379)}: {silent(timeout)}") from None
            except redis.ConnectionError as exc:
                raise ActionFailed(f"XREAD on stream {stream!r}: Redis {connection_lost(host_port(url, 6379), exc, url)}") from None
            except redis.RedisError as exc:
                raise ActionFailed(f"XREAD on stream {stream!r} failed: {scrub(describe(exc), url)}") from None
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


# --- MQTT ----------------------------------------------------------------------


def _mqtt(url: str, topic: str, trigger: Callable[[], None], timeout: float, settle: float) -> list[Captured]:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    parts = urlsplit(url)
    default_port = 8883 if parts.scheme == "mqtts" else 1883
    where = host_port(url, default_port)
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
        inbox.put(Captured(bytes(message.payload), headers))

    def on_disconnect(client: Any, userdata: Any, flags: Any, code: Any, props: Any) -> None:
        if closing.is_set():
            return
        refusal.append("connection closed by the broker")
        connected.set()
        subscribed.set()
        inbox.put(None)

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"interlock-capture-{uuid.uuid4().hex[:12]}", protocol=mqtt.MQTTv5)
    client.on_connect, client.on_subscribe, client.on_message, client.on_disconnect = on_connect, on_subscribe, on_message, on_disconnect
    client.connect_timeout = min(timeout, 5.0)
    if parts.username:
        client.username_pw_set(unquote(parts.username), unquote(parts.password) if parts.password else None)
    if parts.scheme == "mqtts":
        client.tls_set()
    try:
        client.connect(parts.hostname or "localhost", parts.port or default_port)
    except (OSError, ValueError) as exc:
        raise ActionFailed(f"cannot subscribe on MQTT {redact_url(url)}: {connect_failure(where, exc, url, 'broker')}") from None
    client.loop_start()
    found: list[Captured] = []
    try:
        if not connected.wait(timeout) or refusal:
            raise ActionFailed(f"MQTT {where}: {refusal[0] if refusal else f'no CONNACK within {timeout:g}s'}")
        client.subscribe(topic, qos=1)
        if not subscribed.wait(timeout) or refusal:
            raise ActionFailed(f"MQTT {where}: {refusal[0] if refusal else f'no SUBACK for {topic} within {timeout:g}s'}")
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
                raise ActionFailed(f"MQTT {where}: connection closed by the broker")
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


# --- the one entry point -------------------------------------------------------

BROKER_KINDS = ("embedded-log", "amqp", "nats", "redis", "mqtt")


def capture_messages(broker: dict[str, Any], topic: str, trigger: Callable[[], None], timeout: float, *, settle: float = 0.0) -> list[Captured]:
    """Subscribe to `topic` on the broker, run `trigger`, and return what arrives within `timeout`.

    `broker` is `{"kind", "url", "exchange"}` (the environment's broker). The
    topic is the embedded log's `topic` column, the AMQP routing key (on the
    broker's exchange, `amq.topic` by default), the NATS subject, the Redis
    stream key or the MQTT topic. After the first message, messages keep being
    collected for `settle` seconds. Raises NoMessage when nothing arrived,
    ActionFailed when the broker could not be read, and whatever `trigger` raises.
    """
    kind, url = broker["kind"], broker["url"]
    if kind == "embedded-log":
        return _embedded_log(url, topic, trigger, timeout, settle)
    if kind == "amqp":
        return asyncio.run(_amqp(url, broker.get("exchange") or "amq.topic", topic, trigger, timeout, settle))
    if kind == "nats":
        return asyncio.run(_nats(url, topic, trigger, timeout, settle))
    if kind == "redis":
        return _redis_stream(url, topic, trigger, timeout, settle)
    if kind == "mqtt":
        return _mqtt(url, topic, trigger, timeout, settle)
    raise ActionFailed(f"capturing messages from a {kind} broker is not implemented (known: {', '.join(BROKER_KINDS)})")


def capture(source: dict[str, Any], stores: dict[str, dict[str, Any]]) -> Message:
    """Trigger the provider and return the message it really published, as pact-python wants it."""
    found = capture_messages(source["broker"], source["topic"], lambda: perform(source["trigger"], stores), float(source["timeout"]))
    first = found[0]
    return {"contents": first.body, "metadata": {**first.headers, "contentType": "application/json"}, "content_type": "application/json"}
