"""Probes: one module per kind of non-broker service (`http`, `sql`, `tcp`), each turning a live service into `Check`s.

Broker probes live with the rest of their kind in `interlock.brokers`; the
helpers here (connection failures, URL redaction, version ranges, `run_all`)
serve both. Every probe is a coroutine so an environment's probes run side by
side, and no probe raises for a failure of the thing it probes. `run_all` adds the last line
of defence: a per-probe deadline and a failed check for anything unexpected, so
a hung or buggy probe can never hide (or stall) the verdicts of the others.

A probe that asks several questions of one service returns ``{id}`` first
(reachable, server version; its duration covers the whole probe) and then one
check per question; when the service cannot be reached, each of those is still
reported, failed with "not checked: ...", because a check that did not run is
never a pass. Probes whose client blocks (SQLAlchemy, paho-mqtt) run in a
thread that only their own connect timeout can end, so keep those timeouts
below `run_all`'s deadline.
"""

from __future__ import annotations

import asyncio
import errno
import re
import time
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlsplit

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from interlock.checks import Check, describe
from interlock.urls import host_port as host_port
from interlock.urls import redact_url as redact_url

__all__ = ["connect_failure", "connection_lost", "host_port", "redact_url", "run_all", "scrub", "version_matches", "version_problem"]

_LEADING_VERSION = re.compile(r"\s*v?(\d+(?:\.\d+)*)")


def scrub(text: str, url: str) -> str:
    """`text` (say, a client library's error) with the URL's password masked, in case it echoes it."""
    password = urlsplit(url).password
    return text.replace(password, "***") if password else text


_CLOSED_TYPES = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, asyncio.IncompleteReadError, EOFError)
#: How client libraries word a server that hung up (redis-py, aiormq, nats-py, psycopg, PyMySQL), lower case.
_CLOSED_WORDS = ("closed by server", "unexpectedly closed", "server closed the connection", "lost connection to", "empty response from server")


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def connect_failure(where: str, exc: BaseException, url: str, peer: str = "server") -> str:
    """The reason for a failed connection: plainly "connection refused" or "connection closed by the <peer>", else the error line.

    Client libraries word a refusal or a hang-up differently ("Connect call
    failed", "Error 111 connecting to ...", "Server connection unexpectedly
    closed", "Lost connection to MySQL server") and often wrap the socket error,
    so the chain of causes is searched. A timeout is never called a hang-up.
    The URL's password is masked either way.
    """
    chain = _chain(exc)
    if any((isinstance(e, OSError) and e.errno == errno.ECONNREFUSED) or "connection refused" in str(e).lower() for e in chain):
        return f"{where}: connection refused"
    timed_out = any(isinstance(e, TimeoutError) or "timed out" in str(e).lower() for e in chain)
    closed = any(isinstance(e, _CLOSED_TYPES) or any(w in str(e).lower() for w in _CLOSED_WORDS) for e in chain)
    if closed and not timed_out:
        return f"{where}: connection closed by the {peer}"
    return scrub(f"{where}: {describe(exc)}", url)


def connection_lost(where: str, exc: BaseException, url: str, peer: str = "broker") -> str:
    """The reason when a connection that was up failed: "connection refused" if a reconnect was, else closed by the peer.

    Client libraries report a dropped connection as many different errors (a
    closed channel, an unexpected EOF, "Connection closed by server."); the
    user needs to know only that the server hung up.
    """
    reason = connect_failure(where, exc, url, peer)
    return reason if reason.endswith(": connection refused") else f"{where}: connection closed by the {peer}"


def version_matches(actual: str, spec: str | None) -> bool:
    """Whether a server's version string satisfies a PEP 440 specifier set (``None`` matches all).

    Servers decorate their versions ("15.19 (Debian 15.19-0+deb12u1)",
    "10.11.19-MariaDB-0+deb12u1"), so only the leading dotted number is compared.
    An invalid `spec` raises ``ValueError`` (packaging's ``InvalidSpecifier``).
    """
    if spec is None:
        return True
    specifiers = SpecifierSet(spec)
    match = _LEADING_VERSION.match(actual)
    if match is None:
        return False
    return specifiers.contains(Version(match.group(1)), prereleases=True)


def version_problem(actual: str, spec: str | None) -> str | None:
    """Why `actual` fails `spec`, or ``None`` when it satisfies it: the shared wording of every probe."""
    try:
        if version_matches(actual, spec):
            return None
    except InvalidSpecifier:
        return f"invalid version spec {spec!r}"
    return f"server version {actual} does not match {spec}"


async def run_all(
    probes: list[Coroutine[Any, Any, Check | list[Check]]],
    *,
    timeout: float,
    labels: list[tuple[str, str, str]],
) -> list[Check]:
    """Run probes concurrently, each under `timeout` seconds, and return all their checks in order.

    `labels[i]` is the ``(id, kind, target)`` reported for `probes[i]` when it
    times out or raises, so a probe that never answered is a failed check, not
    a missing one.
    """
    if len(probes) != len(labels):
        for probe in probes:
            probe.close()
        raise ValueError(f"{len(probes)} probes but {len(labels)} labels")

    async def guarded(probe: Coroutine[Any, Any, Check | list[Check]], label: tuple[str, str, str]) -> list[Check]:
        start = time.perf_counter()
        try:
            result = await asyncio.wait_for(probe, timeout)
        except TimeoutError:
            failed = Check(*label).fail(f"no answer within {timeout}s")
        except Exception as exc:  # a probe bug must still yield a verdict
            failed = Check(*label).fail(describe(exc))
        else:
            return result if isinstance(result, list) else [result]
        failed.duration_ms = round((time.perf_counter() - start) * 1000, 3)
        return [failed]

    results = await asyncio.gather(*(guarded(p, label) for p, label in zip(probes, labels)))
    return [check for checks in results for check in checks]
