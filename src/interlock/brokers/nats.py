"""NATS: the probe (version and JetStream streams) and the capture (a subscription flushed to the server before the trigger).

nats-py retries a failed first connect on its own (``allow_reconnect=False``
does not stop that loop), so both bound it explicitly and collect the errors
the client reports through ``error_cb`` instead of its logger.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from interlock.brokers.base import BrokerKind, Captured, CaptureFailed, NoMessage
from interlock.checks import Check, describe, timed
from interlock.probes import connect_failure, connection_lost, host_port, redact_url, version_problem

if TYPE_CHECKING:
    from nats.aio.client import Client

DEFAULT_PORT = 4222


async def probe_nats(
    check_id: str,
    url: str,
    *,
    streams: Sequence[str] = (),
    version_spec: str | None = None,
    timeout: float = 5.0,
) -> list[Check]:
    """``{id}``: connect and version; ``{id}.stream.{name}``: each required JetStream stream exists."""
    import nats
    from nats.errors import Error as NatsError

    target = redact_url(url)
    where = host_port(url, DEFAULT_PORT)
    main = Check(check_id, "nats", target)
    subs = [(Check(f"{check_id}.stream.{name}", "nats", target), name) for name in streams]
    errors: list[Exception] = []

    async def record(exc: Exception) -> None:
        errors.append(exc)

    with timed(main):
        try:
            client = await nats.connect(
                url,
                connect_timeout=timeout,
                allow_reconnect=False,
                max_reconnect_attempts=1,  # 0 means "retry forever" to the first connect
                reconnect_time_wait=0,
                error_cb=record,
            )
        except (NatsError, OSError) as exc:
            reason = connect_failure(where, errors[-1] if errors else exc, url, "broker")
            main.fail(reason)
            for check, name in subs:
                check.fail(f"not checked: {reason}", stream=name)
            return [main, *(check for check, _ in subs)]
        try:
            version = _server_version(client)
            problem = version_problem(version, version_spec)
            if problem:
                main.fail(f"{where}: {problem}", server_version=version)
            else:
                main.ok(f"{where}: NATS {version}", server_version=version)
            for check, name in subs:
                with timed(check):
                    await _check_stream(client, check, where, name, timeout)
        finally:
            await client.close()
    return [main, *(check for check, _ in subs)]


async def _check_stream(client: Client, check: Check, where: str, name: str, timeout: float) -> None:
    """Ask JetStream for the stream's info: its subjects and message count, or why there is none."""
    from nats.errors import Error as NatsError
    from nats.js.errors import NotFoundError

    try:
        info = await client.jetstream(timeout=timeout).stream_info(name)
    except NotFoundError:
        check.fail(f"{where}: JetStream stream {name!r} does not exist", stream=name)
        return
    except (NatsError, OSError) as exc:
        check.fail(f"{where}: cannot look for JetStream stream {name!r}: {describe(exc)}", stream=name)
        return
    check.ok(
        f"{where}: JetStream stream {name!r} exists",
        stream=name,
        subjects=list(info.config.subjects or []),
        messages=info.state.messages,
    )


def _server_version(client: Client) -> str:
    """The server's version from its INFO; nats-py's ``ServerVersion`` has parts but no string form."""
    v = client.connected_server_version
    return f"{v.major}.{v.minor}.{v.patch}" + (f"-{v.prerelease}" if v.prerelease else "")


async def _capture(url: str, subject: str, trigger: Callable[[], None], timeout: float, settle: float) -> list[Captured]:
    import nats
    from nats.errors import Error as NatsError
    from nats.errors import TimeoutError as NatsTimeout

    errors: list[Exception] = []

    async def record(exc: Exception) -> None:
        errors.append(exc)

    try:
        client = await nats.connect(url, connect_timeout=min(timeout, 5.0), allow_reconnect=False, max_reconnect_attempts=1, reconnect_time_wait=0, error_cb=record)
    except (NatsError, OSError) as exc:
        raise CaptureFailed(f"cannot subscribe on NATS {redact_url(url)}: {connect_failure(host_port(url, DEFAULT_PORT), errors[-1] if errors else exc, url, 'broker')}") from None
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
        raise CaptureFailed(f"NATS {connection_lost(host_port(url, DEFAULT_PORT), errors[-1] if errors else exc, url)}") from None
    finally:
        await client.close()
    if not found:
        raise NoMessage(subject, timeout, f"NATS {host_port(url, DEFAULT_PORT)}")
    return found


async def probe(check_id: str, broker: Mapping[str, Any], version_spec: str | None, timeout: float) -> list[Check]:
    """Connect and compare the server version."""
    return await probe_nats(check_id, broker["url"], version_spec=version_spec, timeout=timeout)


def capture(broker: Mapping[str, Any], topic: str, trigger: Callable[[], None], timeout: float, settle: float) -> list[Captured]:
    """`topic` is the NATS subject."""
    return asyncio.run(_capture(broker["url"], topic, trigger, timeout, settle))


KIND = BrokerKind("nats", component="nats", default_port=DEFAULT_PORT, probe=probe, capture=capture)
