"""The outcome of one environment check, shared by every probe.

A probe never raises for a failure of the thing it probes: an unreachable, slow
or wrong service is a `Check` with status "fail" and a reason, so one bad
service cannot hide the verdicts of the others.
"""

from __future__ import annotations

from interlock.statuses import CheckStatus

import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator


@dataclass
class Check:
    """One check: what was checked, its verdict, why, and how long it took."""

    id: str
    kind: str
    target: str
    status: CheckStatus = CheckStatus.FAIL
    reason: str | None = None
    duration_ms: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == CheckStatus.PASS

    def ok(self, reason: str | None = None, **details: Any) -> Check:
        self.status, self.reason = CheckStatus.PASS, reason
        self.details.update(details)
        return self

    def fail(self, reason: str, **details: Any) -> Check:
        self.status, self.reason = CheckStatus.FAIL, reason
        self.details.update(details)
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextmanager
def timed(check: Check) -> Iterator[Check]:
    """Time the body into `check.duration_ms`, whatever happens inside."""
    start = time.perf_counter()
    try:
        yield check
    finally:
        check.duration_ms = round((time.perf_counter() - start) * 1000, 3)


def describe(exc: BaseException) -> str:
    """One line for an exception from a client library: its type and message, never a traceback."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
