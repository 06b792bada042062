"""AMQP probe (RabbitMQ): the broker answers at the right version and the topology exists.

Exchanges and queues are declared passively, so the probe only looks: it never
creates what the system under test should have created itself. A missing one
makes the broker close the channel, so each gets a channel of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import aio_pika
from aio_pika.abc import AbstractConnection
from aio_pika.exceptions import AMQPError, ChannelNotFoundEntity

from interlock.checks import Check, describe, timed
from interlock.probes import connect_failure, host_port, redact_url, version_problem


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
    target = redact_url(url)
    where = host_port(url, 5671 if url.lower().startswith("amqps:") else 5672)
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
