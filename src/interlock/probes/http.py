"""HTTP probe: status code, latency and, for https, how long the TLS certificate has left.

An expiring certificate is an outage with a date on it, so it fails the check
well before the day (`cert_min_days`), while the service still answers.

One GET per probe over its own connection, spoken with h11 (the HTTP/1.1
engine under httpx) on asyncio streams: measured here, httpx's per-request
bookkeeping cost 200 concurrent probes 6-8 times one probe's latency, h11
alone 2.6-3.4 times (bench/bench_probes.py; docs/decisions.md).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import h11
from cryptography import x509

from interlock.checks import Check, describe, timed
from interlock.probes import connect_failure, host_port, redact_url

MAX_BODY = 1 << 20  # a health answer larger than this is read no further


@cache
def default_tls() -> ssl.SSLContext:
    """The system's verifying TLS context, built once (it costs tens of milliseconds)."""
    return ssl.create_default_context()


async def _exchange(url: str, tls: ssl.SSLContext | None) -> tuple[int, int | None]:
    """Send one GET and read the answer; the status code and the certificate's days left (https only)."""
    parts = urlsplit(url)
    https = parts.scheme.lower() == "https"
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if https else 80)
    reader, writer = await asyncio.open_connection(host, port, ssl=(tls or default_tls()) if https else None, server_hostname=host if https else None)
    try:
        connection = h11.Connection(h11.CLIENT)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = [("Host", parts.netloc.rpartition("@")[2]), ("User-Agent", "interlock-probe"), ("Accept", "*/*"), ("Connection", "close")]
        writer.write(connection.send(h11.Request(method="GET", target=target, headers=headers)) + connection.send(h11.EndOfMessage()))
        await writer.drain()
        status, received = 0, 0
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                received += len(data)
                connection.receive_data(data)
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)) or received > MAX_BODY:
                break
        return status, _cert_days_left(writer.get_extra_info("ssl_object"))
    finally:
        writer.close()


async def probe_http(
    check_id: str,
    url: str,
    *,
    timeout: float = 5.0,
    tls: ssl.SSLContext | None = None,
    expect_status: tuple[int, ...] = (200,),
    max_latency_ms: float | None = None,
    cert_min_days: int = 14,
) -> Check:
    """GET `url` (TLS with `tls`, else the system's verifying context) and judge the answer."""
    target = redact_url(url)
    where = host_port(url, 443 if url.lower().startswith("https:") else 80)
    check = Check(check_id, "http", target)
    with timed(check):
        start = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                status, cert_days = await _exchange(url, tls)
        except TimeoutError:
            return check.fail(f"{where}: no answer in time (after {timeout:g}s)")
        except h11.ProtocolError as exc:
            return check.fail(f"{where}: not an HTTP/1.1 answer ({describe(exc)})")
        except (OSError, ssl.SSLError, ValueError) as exc:
            return check.fail(connect_failure(where, exc, url))
        latency_ms = round((time.perf_counter() - start) * 1000, 3)

    details: dict[str, Any] = {"status_code": status, "latency_ms": latency_ms}
    if cert_days is not None:
        details["cert_days_left"] = cert_days
    problems = []
    if status not in expect_status:
        expected = " or ".join(str(code) for code in expect_status)
        problems.append(f"status {status}, expected {expected}")
    if max_latency_ms is not None and latency_ms > max_latency_ms:
        problems.append(f"latency {latency_ms:.0f} ms exceeds {max_latency_ms:g} ms")
    if cert_days is not None and cert_days < cert_min_days:
        problems.append(f"TLS certificate expires in {cert_days} days (fewer than {cert_min_days})")
    if problems:
        return check.fail(f"{where}: " + "; ".join(problems), **details)
    return check.ok(f"{where}: status {status} in {latency_ms:.0f} ms", **details)


def _cert_days_left(ssl_object: ssl.SSLObject | None) -> int | None:
    """Whole days until the server certificate's notAfter, or ``None`` for plain HTTP.

    The DER form is read because ``getpeercert()`` returns an empty dict when
    the client does not verify certificates, and an unverified certificate
    can expire just the same.
    """
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if der is None:
        return None
    not_after = x509.load_der_x509_certificate(der).not_valid_after_utc
    return (not_after - datetime.now(UTC)).days
