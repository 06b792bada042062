"""What a protocol step is and what it returns: the engine runs `Step`s, a step returns an `Outcome` or raises `HaltRun`.

A leaf below the steps and the engine alike, so the bodies of steps that live
outside `phases/` (execution, regression, merge) need not import the steps package.
"""

from __future__ import annotations

from interlock.statuses import StepStatus

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from interlock.context import RunContext


@dataclass(frozen=True)
class Outcome:
    """What a step did: pass, fail (with the reason), or not implemented."""

    status: StepStatus
    reason: str | None = None

    @classmethod
    def of(cls, ok: bool, reason: str | None = None) -> Outcome:
        return cls(StepStatus.PASS if ok else StepStatus.FAIL, reason)


class HaltRun(Exception):
    """A protocol halt condition: stop the run, exit 3, `--resume` continues here."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(reason)
        self.step = step
        self.reason = reason


@dataclass(frozen=True)
class Step:
    id: str
    phase: int
    title: str
    run: Callable[[RunContext], Outcome]
    needs_services: bool = False


def not_implemented(step_id: str) -> Callable[[RunContext], Outcome]:
    """A placeholder that fails loudly: an unbuilt step must never look like a pass."""

    def run(ctx: RunContext) -> Outcome:
        return Outcome(StepStatus.NOT_IMPLEMENTED, f"step {step_id} is not implemented")

    return run
