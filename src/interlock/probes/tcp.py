"""TCP probe: is anything listening on host:port?

The cheapest evidence that a service is up, used for services that have no
richer protocol probe (and as the first thing to look at when one fails).
"""

from __future__ import annotations

import asyncio

from interlock.checks import Check, timed
from interlock.probes import connect_failure


async def probe_tcp(check_id: str, host: str, port: int, *, timeout: float = 5.0) -> Check:
    """Open (and close) a TCP connection to `host`:`port` within `timeout` seconds."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    check = Check(check_id, "tcp", where)
    with timed(check):
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        except TimeoutError:
            return check.fail(f"{where}: no connection within {timeout}s")
        except OSError as exc:
            return check.fail(connect_failure(where, exc, ""))
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass  # the peer hung up first: it was listening, which is all we asked
    return check.ok(f"{where} accepts connections")
