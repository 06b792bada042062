"""Typed events the engine emits; the console, `--json` and the run log render them.

The engine never prints. Each event carries the protocol's own line (when the
protocol fixes one) in `line`, so every renderer prints it verbatim.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Protocol, Sequence

from interlock.statuses import GateStatus

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
class OtlpReceiverStarted(Event):
    """interlock's OTLP/HTTP receiver listens at `endpoint`: services interlock does not start can be pointed at it."""

    step: str
    endpoint: str
    forward: str | None
    spans: str


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
    pending: list[str] = field(default_factory=list)  # conditions a later phase's artifact decides: shown, not deciding `status`


@dataclass
class PhaseFinished(Event):
    phase: int
    status: str

    @property
    def line(self) -> str:
        name = PHASE_NAMES[self.phase]
        if self.status == GateStatus.PASS:
            return f"[PHASE {self.phase} COMPLETE] - {name} finished successfully."
        return f"[PHASE {self.phase} FAILED] - {name} gate did not pass."


@dataclass
class RunHalted(Event):
    step: str
    reason: str
    resume: str


@dataclass
class RunPublished(Event):
    """The run's artifacts in `folder` are final: the outputs derived from them (history, report, JUnit, summary) may be written.

    Emitted just before `RunFinished` (which stays the last event of a run), and by
    `interlock report`, which derives the same outputs from a folder already published.
    """

    folder: str


@dataclass
class FileWritten(Event):
    """A file written outside the artifact catalogue: a derived output (`kind` report, junit) or one `interlock init` scaffolds."""

    kind: str
    path: str


@dataclass
class Verified(Event):
    """`interlock verify`'s verdict on a bundle; `lines` is what a console shows (left out of --json, which has the data)."""

    bundle: str
    ok: bool
    problems: list[str]
    problem_count: int
    approval: dict[str, Any] | None
    lines: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        del data["lines"]
        return data


@dataclass
class DefectListed(Event):
    """One row of `interlock defects list`."""

    id: str
    severity: str
    status: str
    owner: str
    title: str


@dataclass
class DefectsCounted(Event):
    """The last event of `interlock defects list`: how many rows were listed of how many, so an empty log says so."""

    shown: int
    total: int
    status: str | None
    log: str


@dataclass
class DefectShown(Event):
    """Every field of one defect (`interlock defects show`), in the log's column order."""

    id: str
    fields: dict[str, str]


@dataclass
class DefectUpdated(Event):
    """A human decision recorded on a defect (mitigate, resolve, waive): the fields it changed."""

    id: str
    changes: dict[str, str]


@dataclass
class HistoryListed(Event):
    """One run of `interlock history list`: what the history store keeps of it (newest first)."""

    run_id: str
    environment: str
    started_at: str | None
    identity: str | None
    status: str
    tests: str
    gates: dict[str, str]


@dataclass
class HistoryForgotten(Event):
    """Runs `interlock history forget` or `prune` removed from the history store (or would remove, with `dry_run`)."""

    run_ids: list[str]
    dry_run: bool = False


@dataclass
class KeyGenerated(Event):
    """An Ed25519 sign-off key pair written by `interlock keygen`."""

    private: str
    public: str
    keyid: str


@dataclass
class ConfigChecked(Event):
    """`interlock config check` found no problem."""

    path: str
    services: int
    environments: int


@dataclass
class RunFinished(Event):
    """The last event of a run; `bundle_run_id` names the earlier run whose sealed bundle was kept when this one sealed none."""

    status: str
    exit_code: int
    gates: dict[str, str]
    bundle: str | None
    bundle_run_id: str | None = None

    @property
    def line(self) -> str | None:
        return COMPLETE_LINE if self.status == "complete" else None


Emit = Callable[[Event], None]


class EventHandler(Protocol):
    """A listener of the event stream that may speak itself (as Schemathesis's `EventHandler`): history, report, JUnit, summary.

    Its own events go out through `emit`, so every renderer sees them, redacted,
    before the event that triggered them travels on.
    """

    def handle(self, event: Event, emit: Emit) -> None: ...


class EventStream:
    """One stream, several listeners: every event is redacted once, rendered, then handed to each handler in order.

    A handler acting on `RunPublished` emits its own events (what it wrote)
    through this stream, so the renderer shows them right after the event that
    caused them and before the engine's `RunFinished`, the last event of a run.
    """

    def __init__(self, renderer: Emit, handlers: Sequence[EventHandler] = (), redact: Callable[[Event], Event] = lambda event: event) -> None:
        self.renderer, self.handlers, self.redact = renderer, list(handlers), redact

    def __call__(self, event: Event) -> None:
        event = self.redact(event)
        self.renderer(event)
        for handler in self.handlers:
            handler.handle(event, self)
