"""Redis probe: PING, the server version from INFO, and the settings the system relies on.

A Redis that answers but evicts keys (``maxmemory-policy``) or never persists
(``appendonly``) can still lose a system's data, so `config` pins the settings
that matter and the probe compares them with ``CONFIG GET``.
"""

from __future__ import annotations

from collections.abc import Mapping

from redis.asyncio import Redis
from redis.exceptions import RedisError

from interlock.checks import Check, describe, timed
from interlock.probes import connect_failure, host_port, redact_url, scrub, version_problem


async def probe_redis(
    check_id: str,
    url: str,
    *,
    version_spec: str | None = None,
    config: Mapping[str, str] | None = None,
    timeout: float = 5.0,
) -> list[Check]:
    """``{id}``: PING and version; ``{id}.config`` (when `config` is given): each setting's value."""
    target = redact_url(url)
    where = host_port(url, 6379)
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
