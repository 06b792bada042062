"""HTTP probe: status code, latency and, for https, how long the TLS certificate has left.

An expiring certificate is an outage with a date on it, so it fails the check
well before the day (`cert_min_days`), while the service still answers.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
from cryptography import x509

from interlock.checks import Check, describe, timed
from interlock.probes import connect_failure, host_port, redact_url


async def probe_http(
    client: httpx.AsyncClient,
    check_id: str,
    url: str,
    *,
    expect_status: tuple[int, ...] = (200,),
    max_latency_ms: float | None = None,
    cert_min_days: int = 14,
) -> Check:
    """GET `url` with the caller's client (its timeouts, TLS settings and pool) and judge the answer."""
    target = redact_url(url)
    where = host_port(url, 443 if url.lower().startswith("https:") else 80)
    check = Check(check_id, "http", target)
    with timed(check):
        start = time.perf_counter()
        try:
            async with client.stream("GET", url) as response:
                cert_days = _cert_days_left(response)
                await response.aread()
        except httpx.TimeoutException as exc:
            return check.fail(f"{where}: no answer in time ({describe(exc)})")
        except httpx.HTTPError as exc:
            return check.fail(connect_failure(where, exc, url))
        latency_ms = round((time.perf_counter() - start) * 1000, 3)

    details: dict[str, Any] = {"status_code": response.status_code, "latency_ms": latency_ms}
    if cert_days is not None:
        details["cert_days_left"] = cert_days
    problems = []
    if response.status_code not in expect_status:
        expected = " or ".join(str(code) for code in expect_status)
        problems.append(f"status {response.status_code}, expected {expected}")
    if max_latency_ms is not None and latency_ms > max_latency_ms:
        problems.append(f"latency {latency_ms:.0f} ms exceeds {max_latency_ms:g} ms")
    if cert_days is not None and cert_days < cert_min_days:
        problems.append(f"TLS certificate expires in {cert_days} days (fewer than {cert_min_days})")
    if problems:
        return check.fail(f"{where}: " + "; ".join(problems), **details)
    return check.ok(f"{where}: status {response.status_code} in {latency_ms:.0f} ms", **details)


def _cert_days_left(response: httpx.Response) -> int | None:
    """Whole days until the server certificate's notAfter, or ``None`` for plain HTTP.

    The DER form is read because ``getpeercert()`` returns an empty dict when
    the client does not verify certificates, and an unverified certificate
    can expire just the same.
    """
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if der is None:
        return None
    not_after = x509.load_der_x509_certificate(der).not_valid_after_utc
    return (not_after - datetime.now(UTC)).days
