"""AMQP 0-9-1 (RabbitMQ): the probe (version and topology) and the capture (an exclusive queue bound to the routing key).

The probe declares exchanges and queues passively, so it only looks: it never
creates what the system under test should have created itself. A missing one
makes the broker close the channel, so each gets a channel of its own.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from interlock.brokers.base import SILENCE_SLACK, BrokerKind, Captured, CaptureFailed, NoMessage, plain, silent
from interlock.checks import Check, describe, timed
from interlock.probes import connect_failure, connection_lost, host_port, redact_url, version_problem

if TYPE_CHECKING:
    from aio_pika.abc import AbstractConnection

DEFAULT_PORT = 5672


def _where(url: str) -> str:
    return host_port(url, 5671 if url.lower().startswith("amqps:") else DEFAULT_PORT)


async def probe_amqp(
    check_id: str,
    url: str,
    *,
    exchanges: Sequence[str] = (),
    queues: Sequence[str] = (),
    version_spec: str | None = None,
    timeout: float = 5.0,
) -> list[Check]:
    """Connect, compare the server version, and passively declare each required exchange and queue."""
    import aio_pika
    from aio_pika.exceptions import AMQPError

    target = redact_url(url)
    where = _where(url)
    main = Check(check_id, "amqp", target)
    subs = [(Check(f"{check_id}.exchange.{name}", "amqp", target), "exchange", name) for name in exchanges]
    subs += [(Check(f"{check_id}.queue.{name}", "amqp", target), "queue", name) for name in queues]
    with timed(main):
        try:
            connection = await aio_pika.connect(url, timeout=timeout)
        except (AMQPError, OSError, TimeoutError) as exc:
            reason = connect_failure(where, exc, url, "broker")
            main.fail(reason)
            for check, _, _ in subs:
                check.fail(f"not checked: {reason}")
            return [main, *(check for check, _, _ in subs)]
        try:
            version = _server_version(connection)
            problem = version_problem(version, version_spec)
            if problem:
                main.fail(f"{where}: {problem}", server_version=version)
            else:
                main.ok(f"{where}: RabbitMQ {version}", server_version=version)
            for check, what, name in subs:
                with timed(check):
                    await _declare_passive(connection, check, where, what, name, timeout)
        finally:
            await connection.close()
    return [main, *(check for check, _, _ in subs)]


async def _declare_passive(
    connection: AbstractConnection, check: Check, where: str, what: str, name: str, timeout: float
) -> None:
    """Declare one exchange or queue passively on its own channel and record whether it exists."""
    from aio_pika.exceptions import AMQPError, ChannelNotFoundEntity

    try:
        channel = await connection.channel()
    except (AMQPError, OSError, TimeoutError) as exc:
        check.fail(f"{where}: no channel to look for {what} {name!r}: {describe(exc)}", **{what: name})
        return
    try:
        if what == "exchange":
            await channel.declare_exchange(name, passive=True, timeout=timeout)
            check.ok(f"{where}: exchange {name!r} exists", exchange=name)
        else:
            queue = await channel.declare_queue(name, passive=True, timeout=timeout)
            result = queue.declaration_result
            check.ok(
                f"{where}: queue {name!r} exists",
                queue=name,
                messages=result.message_count,
                consumers=result.consumer_count,
            )
    except ChannelNotFoundEntity:
        check.fail(f"{where}: {what} {name!r} does not exist", **{what: name})
    except (AMQPError, TimeoutError) as exc:
        check.fail(f"{where}: cannot look for {what} {name!r}: {describe(exc)}", **{what: name})
    finally:
        if not channel.is_closed:
            await channel.close()


def _server_version(connection: AbstractConnection) -> str:
    """The broker's version from the AMQP ``connection.start`` server properties.

    aio-pika does not surface them; they live on the underlying aiormq
    connection (``connection.transport.connection.server_properties``).
    """
    properties = connection.transport.connection.server_properties if connection.transport else {}
    version = properties.get("version", "unknown")
    return version.decode() if isinstance(version, bytes) else str(version)


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


AMQP_PROPERTIES = ("content_encoding", "correlation_id", "reply_to", "message_id", "type", "user_id", "app_id", "priority", "delivery_mode")


def amqp_properties(message: Any) -> dict[str, Any]:
    """The basic properties the producer set (besides content type and headers), by their AMQP names."""
    values = {name: getattr(message, name, None) for name in AMQP_PROPERTIES}
    return {name: plain(getattr(value, "value", value)) for name, value in values.items() if value is not None}


async def _capture(url: str, exchange: str, topic: str, trigger: Callable[[], None], timeout: float, settle: float) -> list[Captured]:
    import aio_pika
    from aio_pika.exceptions import AMQPError, ChannelNotFoundEntity

    where = f"exchange {exchange!r}"
    try:
        connection = await asyncio.wait_for(aio_pika.connect(url), timeout=max(timeout, 5.0))
    except (OSError, TimeoutError, AMQPError) as exc:
        raise CaptureFailed(f"cannot subscribe on AMQP broker {redact_url(url)}: {connect_failure(host_port(url, DEFAULT_PORT), exc, url, 'broker')}") from None
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
                    found.append(Captured(message.body, plain(dict(message.headers or {})), message.content_type, amqp_properties(message)))
                    if settle <= 0:
                        break
                    deadline = min(deadline, time.monotonic() + settle)
                    continue
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise CaptureFailed(f"AMQP {host_port(url, DEFAULT_PORT)}: {silent(timeout)}") from None
    except (AMQPError, OSError, RuntimeError) as exc:  # a closed channel is a RuntimeError to aiormq
        if not connection.is_closed:
            raise
        raise CaptureFailed(f"AMQP {connection_lost(host_port(url, DEFAULT_PORT), exc, url)}") from None
    if not found:
        raise NoMessage(topic, timeout, where)
    return found


async def probe(check_id: str, broker: Mapping[str, Any], version_spec: str | None, timeout: float) -> list[Check]:
    """The broker's `exchange`, when it names one, must exist."""
    exchange = broker.get("exchange")
    return await probe_amqp(check_id, broker["url"], exchanges=(exchange,) if exchange else (), version_spec=version_spec, timeout=timeout)


def capture(broker: Mapping[str, Any], topic: str, trigger: Callable[[], None], timeout: float, settle: float) -> list[Captured]:
    """`topic` is the routing key on the broker's exchange (`amq.topic` by default)."""
    return asyncio.run(_capture(broker["url"], broker.get("exchange") or "amq.topic", topic, trigger, timeout, settle))


KIND = BrokerKind("amqp", component="rabbitmq", default_port=DEFAULT_PORT, probe=probe, capture=capture)
