"""NATS probe: the server answers at the right version and the JetStream streams exist.

nats-py retries a failed first connect on its own (``allow_reconnect=False``
does not stop that loop), so the probe bounds it explicitly and collects the
errors the client reports through ``error_cb`` instead of its logger.
"""

from __future__ import annotations

from collections.abc import Sequence

import nats
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.errors import NotFoundError

from interlock.checks import Check, describe, timed
from interlock.probes import connect_failure, host_port, redact_url, version_problem


async def probe_nats(
    check_id: str,
    url: str,
    *,
    streams: Sequence[str] = (),
    version_spec: str | None = None,
    timeout: float = 5.0,
) -> list[Check]:
    """``{id}``: connect and version; ``{id}.stream.{name}``: each required JetStream stream exists."""
    target = redact_url(url)
    where = host_port(url, 4222)
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
