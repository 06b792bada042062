"""The probes' shared helpers: URL redaction, version matching, failure wording and `run_all`."""

from __future__ import annotations

import asyncio
import errno
import time

import pytest

from interlock.checks import Check
from interlock.probes import connect_failure, redact_url, run_all, version_matches, version_problem


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("postgresql://user:pw@db.example:5432/shop", "postgresql://user:***@db.example:5432/shop"),
        ("amqp://guest:guest@127.0.0.1:5672/", "amqp://guest:***@127.0.0.1:5672/"),
        ("redis://:s3cret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("mysql://root:p%40ss@127.0.0.1/test?charset=utf8mb4", "mysql://root:***@127.0.0.1/test?charset=utf8mb4"),
        ("postgresql://postgres@127.0.0.1:5432/test", "postgresql://postgres@127.0.0.1:5432/test"),
        ("nats://127.0.0.1:4222", "nats://127.0.0.1:4222"),
        ("sqlite:////tmp/bus.db", "sqlite:////tmp/bus.db"),
    ],
)
def test_redact_url_masks_only_the_password(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


@pytest.mark.parametrize(
    ("actual", "spec", "expected"),
    [
        ("15.19 (Debian 15.19-0+deb12u1)", ">=15,<16", True),
        ("15.19 (Debian 15.19-0+deb12u1)", ">=16", False),
        ("10.11.19-MariaDB-0+deb12u1", "~=10.11.0", True),
        ("10.11.19-MariaDB-0+deb12u1", ">=11", False),
        ("v2.9.10", "==2.9.*", True),
        ("3.10.8", None, True),
        ("unknown", ">=1", False),
    ],
)
def test_version_matches_compares_the_leading_number(actual: str, spec: str | None, expected: bool) -> None:
    assert version_matches(actual, spec) is expected


def test_an_invalid_version_spec_is_a_reason_not_a_crash() -> None:
    with pytest.raises(ValueError):
        version_matches("15.1", "fifteen")
    assert version_problem("15.1", "fifteen") == "invalid version spec 'fifteen'"
    assert version_problem("15.1", ">=16") == "server version 15.1 does not match >=16"
    assert version_problem("15.1", ">=15") is None


def test_connect_failure_finds_a_wrapped_refusal_and_masks_passwords() -> None:
    try:
        try:
            raise ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed")
        except OSError as inner:
            raise RuntimeError("Error 111 connecting") from inner
    except RuntimeError as wrapped:
        assert connect_failure("db:5432", wrapped, "") == "db:5432: connection refused"
    denied = PermissionError("login with hunter2 refused")
    assert connect_failure("h:1", denied, "amqp://u:hunter2@h:1/") == "h:1: PermissionError: login with *** refused"


async def _answer(value: Check | list[Check], delay: float = 0.0) -> Check | list[Check]:
    await asyncio.sleep(delay)
    return value


async def _broken() -> Check:
    raise KeyError("probe bug")


def test_run_all_flattens_in_order_and_fails_hung_or_broken_probes() -> None:
    labels = [("a", "tcp", "h:1"), ("b", "redis", "h:2"), ("c", "nats", "h:3"), ("d", "amqp", "h:4")]
    probes = [
        _answer(Check("a", "tcp", "h:1").ok()),
        _answer([Check("b", "redis", "h:2").ok(), Check("b.config", "redis", "h:2").fail("x is 1")]),
        _answer(Check("c", "nats", "h:3").ok(), delay=10),
        _broken(),
    ]
    start = time.perf_counter()
    checks = asyncio.run(run_all(probes, timeout=0.3, labels=labels))
    assert time.perf_counter() - start < 1.0
    assert [(c.id, c.status) for c in checks] == [
        ("a", "pass"),
        ("b", "pass"),
        ("b.config", "fail"),
        ("c", "fail"),
        ("d", "fail"),
    ]
    assert (checks[3].kind, checks[3].target, checks[3].reason) == ("nats", "h:3", "no answer within 0.3s")
    assert checks[3].duration_ms >= 300
    assert (checks[4].kind, checks[4].reason) == ("amqp", "KeyError: 'probe bug'")


def test_run_all_runs_probes_concurrently() -> None:
    labels = [(str(i), "tcp", "h") for i in range(5)]
    probes = [_answer(Check(str(i), "tcp", "h").ok(), delay=0.2) for i in range(5)]
    start = time.perf_counter()
    checks = asyncio.run(run_all(probes, timeout=2, labels=labels))
    assert time.perf_counter() - start < 0.6
    assert [c.id for c in checks] == ["0", "1", "2", "3", "4"]


def test_run_all_refuses_probes_without_labels() -> None:
    probes = [_answer(Check("a", "t", "h")), _answer(Check("b", "t", "h"))]
    with pytest.raises(ValueError, match="2 probes but 1 labels"):
        asyncio.run(run_all(probes, timeout=1, labels=[("a", "t", "h")]))
