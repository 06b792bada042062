"""Typed events the engine emits; the console, `--json` and the run log render them.

The engine never prints. Each event carries the protocol's own line (when the
protocol fixes one) in `line`, so every renderer prints it verbatim.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

PHASE_NAMES = {1: "Scope Alignment", 2: "Contract Assurance", 3: "Execution Integrity", 4: "Sign-Off"}
PHASE_START_LINES = {
    1: "[PHASE 1 START] - Aligning integration scope with architecture and delivery artifacts...",
    2: "[PHASE 2 START] - Building integration scenarios and automation suites...",
    3: "[PHASE 3 START] - Executing integration automation across critical paths...",
    4: "[PHASE 4 START] - Compiling integration validation bundle for quality audit...",
}
ERROR_LINES = {
    "MissingArtifacts": "[ERROR] Required architecture or feature artifacts unavailable.",
    "EnvironmentMismatch": "[ERROR] Integration environment diverges from baseline configuration.",
    "TestFailure": "[ERROR] Integration suite reported critical failures.",
}
PROMPT_LINES = {
    "defect-review": "[DEFECT REVIEW] Critical integration failures detected. Confirm remediation plan recorded before rerun? (yes/no)",
    "sign-off": "[SIGN-OFF REQUEST] Integration evidence bundle assembled. Approve transfer to Protocol 4? (yes/no)",
}
COMPLETE_LINE = "[PROTOCOL COMPLETE] - Integration validation approved. Ready for Protocol 4 (Quality Audit)."


@dataclass
class Event:
    """Base event; `line` is the exact text a console shows, if any."""

    @property
    def line(self) -> str | None:
        return None

    def to_dict(self) -> dict[str, Any]:
        name = re.sub(r"(?<!^)(?=[A-Z])", "_", type(self).__name__).lower()
        data = {"event": name, **asdict(self)}
        if self.line is not None:
            data["line"] = self.line
        return data


@dataclass
class RunStarted(Event):
    run_id: str
    environment: str
    resumed: bool


@dataclass
class PhaseStarted(Event):
    phase: int

    @property
    def line(self) -> str:
        return PHASE_START_LINES[self.phase]


@dataclass
class StepStarted(Event):
    step: str
    title: str


@dataclass
class Progress(Event):
    """Progress of a long step; `total` None when unknown."""

    step: str
    done: int
    total: int | None
    label: str = ""


@dataclass
class CheckFinished(Event):
    step: str
    id: str
    status: str
    reason: str | None = None


@dataclass
class AutomationExecuted(Event):
    script: str
    status: str

    @property
    def line(self) -> str:
        return f"[AUTOMATION] {self.script} executed: {self.status}"


@dataclass
class ProtocolError(Event):
    kind: str
    details: list[str] = field(default_factory=list)

    @property
    def line(self) -> str:
        return ERROR_LINES[self.kind]


@dataclass
class DefectFound(Event):
    id: str
    severity: str
    title: str
    owner: str
    rerun: str


@dataclass
class Notice(Event):
    """Something a reader must see that is not a verdict (a hint, a skipped step's reason)."""

    step: str
    message: str


@dataclass
class PromptRequired(Event):
    kind: str

    @property
    def line(self) -> str:
        return PROMPT_LINES[self.kind]


@dataclass
class PromptAnswered(Event):
    kind: str
    answer: bool
    how: str


@dataclass
class ArtifactWritten(Event):
    path: str


@dataclass
class StepFinished(Event):
    step: str
    title: str
    status: str
    reason: str | None = None


@dataclass
class GateEvaluated(Event):
    gate: int
    name: str
    status: str
    failures: list[str] = field(default_factory=list)
    policy_relaxed: list[str] = field(default_factory=list)  # `policy relaxed: ...` lines: what this verdict rests on


@dataclass
class PhaseFinished(Event):
    phase: int
    status: str

    @property
    def line(self) -> str:
        name = PHASE_NAMES[self.phase]
        if self.status == "pass":
            return f"[PHASE {self.phase} COMPLETE] - {name} finished successfully."
        return f"[PHASE {self.phase} FAILED] - {name} gate did not pass."


@dataclass
class RunHalted(Event):
    step: str
    reason: str
    resume: str


@dataclass
class RunFinished(Event):
    status: str
    exit_code: int
    gates: dict[str, str]
    bundle: str | None

    @property
    def line(self) -> str | None:
        return COMPLETE_LINE if self.status == "complete" else None


Emit = Callable[[Event], None]
