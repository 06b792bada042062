"""Runs the protocol's steps in order, evaluates the gates, halts and resumes.

A full run works in a staging folder beside the artifact folder and publishes
it (rename) when it finishes or halts, so a killed run leaves the previous
artifacts intact and a new run never mixes with a previous run's evidence.
The staging folder's state file lists the steps done, so `--resume` continues
a killed run there (the interrupted step again from scratch) as it continues a
halted one. The engine emits events and returns an exit code; it never prints.
"""

from __future__ import annotations

from interlock.statuses import GateStatus, StepStatus

import importlib
import os
import shutil
import uuid
from fnmatch import fnmatch
from pathlib import Path
from collections.abc import Sequence
from typing import Any, Callable

from interlock import ledger
from interlock.artifacts import BUNDLE, STATE_FILE, ArtifactDir, writer_lock
from interlock.config import Loaded
from interlock.runspec import RunSpec
from interlock.errors import ExitCode, Problem, UsageError
from interlock.events import (
    Emit,
    GateEvaluated,
    Notice,
    PhaseFinished,
    PhaseStarted,
    RunFinished,
    RunHalted,
    RunPublished,
    RunStarted,
    StepFinished,
    StepStarted,
)
from interlock.gates import failures, pending, relaxed_lines
from interlock.protocol import HaltRun, Outcome, Step, not_implemented
from interlock.context import RunContext, utc_now
from interlock.state import RunState, gates_not_run, staging_folder, staging_folders
from interlock.supervisor import SERVICE_LOGS
from interlock.verdict import gate_results

STEPS: tuple[tuple[str, int, str, str, bool], ...] = (
    ("1.1", 1, "Reconcile integration scope", "interlock.phases.scope:run", False),
    ("1.2", 1, "Validate integration environment", "interlock.phases.environment:run", True),
    ("1.3", 1, "Update test data inventory", "interlock.phases.data:run", False),
    ("2.1", 2, "Assemble cross-service test suites", "interlock.phases.plan:run", False),
    ("2.2", 2, "Configure contract and schema validators", "interlock.phases.contracts:run", True),
    ("2.3", 2, "Instrument observability hooks", "interlock.phases.observability:run", True),
    ("3.1", 3, "Run integration test suites", "interlock.phases.execution:run", True),
    ("3.2", 3, "Triage and log defects", "interlock.phases.triage:run", False),
    ("3.3", 3, "Perform regression spot-checks", "interlock.phases.regression:run", True),
    ("4.3", 4, "Publish forward recommendations", "interlock.phases.recommendations:run", False),
    ("4.1", 4, "Consolidate evidence bundle", "interlock.phases.bundle:run", False),
    ("4.2", 4, "Record integration sign-off", "interlock.phases.signoff:run", False),
)


def _resolve(target: str, step_id: str) -> Callable[[RunContext], Outcome]:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return not_implemented(step_id)
        raise
    step: Callable[[RunContext], Outcome] = getattr(module, attr)
    return step


def _when_run(target: str, step_id: str) -> Callable[[RunContext], Outcome]:
    """The step's code, imported when it runs: a resumed run does not load the steps it keeps (scope's alone takes ~1 s)."""
    return lambda ctx: _resolve(target, step_id)(ctx)


def steps() -> list[Step]:
    """The protocol's steps, in the order a run takes them (4.3 before 4.1: the bundle holds the recommendations)."""
    return [Step(i, phase, title, _when_run(target, i), needs) for i, phase, title, target, needs in STEPS]




def resumable(published: Path, env_name: str) -> tuple[RunState, Path | None] | None:
    """What `interlock run --resume` continues: a killed run's staging folder, else a halted published run.

    A staging folder is newer than anything published (a new run removes older
    ones first), so it wins. Returns the state and the staging folder (None for
    a halted published run, which is copied into a new one).
    """
    staged = []
    for folder in staging_folders(published):
        state = RunState.load(folder)
        if state is not None and state.environment == env_name and folder == staging_folder(published, state.run_id):
            staged.append(((folder / STATE_FILE).stat().st_mtime, folder, state))
    if staged:
        _, folder, state = max(staged, key=lambda found: found[0])
        return state, folder
    state = RunState.load(published)
    if state is not None and state.halted_at is not None and state.environment == env_name:
        return state, None
    return None


def sweep_scratch(folder: Path) -> None:
    """Remove the hidden scratch a killed step left (atomic writes' temp files, pytest's half-written report).

    Hidden files in an artifact folder are never evidence (the bundle leaves them
    out); only the state file is kept.
    """
    for path in list(folder.rglob(".*")):
        if path.is_file() and path != folder / STATE_FILE:
            path.unlink(missing_ok=True)


class Engine:
    """One run of the protocol, or of some of its steps, against one environment.

    `spec` is the command's resolved run (interlock.runspec), `steps` the steps a
    full run takes in order and a step command picks from (`steps()`: the protocol's).
    """

    def __init__(self, spec: RunSpec, artifacts_root: Path, emit: Emit, confirm: Callable[[str], tuple[bool, str]], *,
                 steps: Sequence[Step], command: str = "interlock run", by: str | None = None) -> None:
        self.spec, self.published, self.confirm = spec, artifacts_root, confirm
        self.steps = list(steps)
        self._emit = emit
        self.command, self.by = command, by or ledger.whoami()  # what the run ledger says was run, and by whom

    @property
    def loaded(self) -> Loaded:
        return self.spec.loaded

    @property
    def env_name(self) -> str:
        return self.spec.env_name

    def emit(self, event: Any) -> None:
        """Every event behind the run's redactor (the spec's, bound to the run once its context exists)."""
        self._emit(self.spec.redactor.event(event))

    def _step(self, step_id: str) -> Step:
        found = next((s for s in self.steps if s.id == step_id), None)
        if found is None:
            raise UsageError(Problem(step_id, f"no step {step_id!r}; known: {', '.join(s.id for s in self.steps)}"))
        return found

    def _context(self, folder: Path, run_id: str, started_at: str | None = None, ports: dict[str, int] | None = None) -> RunContext:
        """The steps' context; `ports` is the run state's own dict, so the auto ports chosen are saved with the state."""
        ctx = RunContext(self.spec, ArtifactDir(folder), self.emit, self.confirm, run_id, published=self.published,
                         ports=ports if ports is not None else {}, command=self.command, by=self.by)
        self.spec = ctx.spec  # bound to the run's folder and ports: the events are redacted as the artifacts are
        if started_at:
            ctx.started_at = started_at
        return ctx

    def _run_step(self, ctx: RunContext, item: Step) -> Outcome:
        """Run one step and ledger what it wrote, however it ends (a halted step's artifacts are its products too)."""
        self.emit(StepStarted(item.id, item.title))
        ctx.enter_step(item.id)
        stamps: dict[str, tuple[int, int, int]] = {}
        before = ledger.tracked(ctx.artifacts.root, stamps)
        ending = "error: the step stopped with an internal error"
        try:
            if item.needs_services:
                ctx.services.start()
            outcome = item.run(ctx)
            ending = f"{outcome.status}: {outcome.reason}" if outcome.reason else outcome.status
        except HaltRun as halt:
            ending = f"halted: {halt.reason}"
            raise
        finally:
            ledger.line_for_step(ctx, item.id, "step", f"{item.title}; {ending}", before, *ledger.step_changes(ctx.artifacts.root, before, stamps))
        self.emit(StepFinished(item.id, item.title, outcome.status, outcome.reason))
        return outcome

    def _stop_services(self, ctx: RunContext) -> None:
        """Stop the services, then ledger the last lines they wrote to their logs (after the step that used them ended)."""
        ctx.services.stop()
        read = ledger.read(ctx.artifacts.root)
        known = ledger.replay(read.entries) if read is not None else {}
        now = ledger.tracked(ctx.artifacts.root)
        grown = {rel: digest for rel, digest in now.items() if any(fnmatch(rel, p) for p in SERVICE_LOGS) and (rel not in known or known[rel].sha256 != digest)}
        if grown:
            ledger.line_for_step(ctx, "services", "services", "the services' and setup commands' last log lines, written as the services stopped",
                         {rel: made.sha256 for rel, made in known.items()}, grown, [])

    def run_steps(self, step_ids: list[str]) -> int:
        """Run single steps in place (the per-step commands); exit 1 when one did not pass."""
        with writer_lock(self.published):
            self._settle_publish()
            if self.published.is_dir():
                sweep_scratch(self.published)  # a step command killed in place leaves its scratch here
            return self._run_steps(step_ids)

    def _run_steps(self, step_ids: list[str]) -> int:
        folder = self.published
        folder.mkdir(parents=True, exist_ok=True)
        state = RunState.load(folder)
        if state is None or state.standalone:  # outside a full run each step command is a run of its own, recorded for the history
            state = RunState(uuid.uuid4().hex[:12], self.env_name, utc_now(), standalone=True)
            state.save(folder)
        ctx = self._context(folder, state.run_id, ports=state.ports)
        code = ExitCode.OK
        try:
            for step_id in step_ids:
                if self._run_step(ctx, self._step(step_id)).status != StepStatus.PASS:
                    code = ExitCode.FAILED
        except HaltRun as halt:
            self.emit(RunHalted(halt.step, halt.reason, "fix the cause, then rerun the command"))
            code = ExitCode.HALTED
        finally:
            self._stop_services(ctx)
        return code

    def run(self, resume: bool = False) -> int:
        """The whole protocol; returns the exit code (0 all gates pass, 1 a gate failed, 3 halted).

        `resume` continues a killed run's staging folder or a halted published run;
        without it any killed run's staging folder is discarded and the run starts over.
        """
        with writer_lock(self.published):
            self._settle_publish()
            found = resumable(self.published, self.env_name) if resume else None
            if resume and found is None:
                raise UsageError(Problem(str(self.published), f"no halted run and no killed run of environment {self.env_name!r} to resume; start one with `interlock run`"))
            state, staged = found or (RunState(uuid.uuid4().hex[:12], self.env_name, utc_now()), None)
            staging = staged or staging_folder(self.published, state.run_id)
            ctx = self._context(staging, state.run_id, state.started_at, state.ports)
            ctx.services.stop_orphans()  # before any staging folder is touched: a killed run's services may still write there
            self._discard_staging(keep=staged)
            if staged is None:
                self._create_staging(staging, state, copy=resume)
            sweep_scratch(staging)
            self.emit(RunStarted(state.run_id, self.env_name, resume))
            try:
                halted = self._phases(ctx, state, staging)
            finally:
                self._stop_services(ctx)
            if halted:
                self._relative_paths(ctx)
            kept = self._keep_sealed(ctx, staging)
            self._publish(staging)  # only a run that finished or halted replaces the previous evidence
            document = gate_results(ArtifactDir(self.published), self.loaded)
        not_run = gates_not_run(state.halted_at)
        gates = {str(g["id"]): GateStatus.NOT_RUN if g["id"] in not_run else g["status"] for g in document["gates"]}
        bundle = self.published / BUNDLE.filename
        if halted:
            code, status = ExitCode.HALTED, "halted"
        elif document["status"] == GateStatus.PASS:
            code, status = ExitCode.OK, "complete"
        else:
            code, status = ExitCode.FAILED, "failed"
        self.emit(RunPublished(str(self.published)))  # the outputs derived from the artifacts are written now, before the last event
        self.emit(RunFinished(status, int(code), gates, str(bundle) if bundle.exists() else None, kept))
        return code

    def _relative_paths(self, ctx: RunContext) -> None:
        """A halted run never reaches 4.1's pass, yet publishes its artifacts: make their machine paths relative here,
        ledgered as interlock's edit (as 4.1 does), so a resumed run's Gate 4 finds every byte accounted for."""
        from interlock.phases.bundle import evidence_files, relative_paths

        root = ctx.artifacts.root
        before = ledger.tracked(root)
        relative_paths(root, evidence_files(root), ctx.loaded.root)
        changed, _ = ledger.changes(before, ledger.tracked(root))
        if changed:
            ledger.line_for_step(ctx, "halt", "edit", "absolute paths made relative in the halted run's artifacts: " + ", ".join(sorted(changed))[:500],
                                 before, changed, [])

    def _keep_sealed(self, ctx: RunContext, staging: Path) -> str | None:
        """Carry the last sealed bundle into a run that sealed none (halted, failed before 4.1, sealing refused).

        The bundle is self-contained and signed: it stays verifiable where it
        was until a run seals a new one. Like every seal it is outside the run
        ledger's accounting (ledger.SEALS): its bag-info names the run it
        sealed. Returns that run id (None: nothing kept).
        """
        previous, fresh = self.published / BUNDLE.filename, staging / BUNDLE.filename
        if fresh.exists() or not previous.is_file():
            return None
        from interlock.evidence.bundle import sealed_run_id

        sealed = sealed_run_id(previous) or "unknown"
        copy = staging / f".{BUNDLE.filename}.{uuid.uuid4().hex[:8]}.tmp"
        shutil.copy2(previous, copy)
        os.replace(copy, fresh)
        ctx.emit(Notice("4.1", f"kept the last sealed {BUNDLE.filename} (of run {sealed}): this run sealed none; it stays verifiable until a run seals a new one"))
        return sealed

    def _discard_staging(self, keep: Path | None) -> None:
        """Remove other runs' staging folders: the lock says no live run owns them.

        Each is renamed out of the `.run-*` pattern first, so a kill during the
        removal never leaves a half-deleted folder that `--resume` would take up.
        """
        parent, name = self.published.parent, self.published.name
        for stale in [*staging_folders(self.published), *parent.glob(f".{name}.new-*")]:
            if stale != keep:
                os.replace(stale, parent / f".{name}.del-{uuid.uuid4().hex[:12]}")
        for doomed in parent.glob(f".{name}.del-*"):
            shutil.rmtree(doomed, ignore_errors=True)

    def _create_staging(self, staging: Path, state: RunState, copy: bool) -> None:
        """Build the staging folder under another name and rename it: a `.run-*` folder always holds its state file.

        `copy` starts from the published folder (resuming a halted run).
        """
        fresh = self.published.parent / f".{self.published.name}.new-{state.run_id}"
        if copy:
            shutil.copytree(self.published, fresh, symlinks=True)
        else:
            fresh.mkdir(parents=True)
        state.save(fresh)
        os.replace(fresh, staging)

    def _phases(self, ctx: RunContext, state: RunState, staging: Path) -> bool:
        """Run the phases; True when the run halted."""
        by_phase: dict[int, list[Step]] = {}
        for item in self.steps:
            by_phase.setdefault(item.phase, []).append(item)
        for phase, items in by_phase.items():
            if not any(i.needs_services for i in items):
                self._stop_services(ctx)  # their logs must be final (and ledgered) before the evidence is sealed
            self.emit(PhaseStarted(phase))
            for item in items:
                if item.id in state.completed:
                    self.emit(StepFinished(item.id, item.title, "done", "completed before the run stopped; kept"))
                    continue
                try:
                    self._run_step(ctx, item)
                except HaltRun as halt:
                    state.halted_at, state.halt_reason = halt.step, halt.reason
                    state.save(staging)
                    self.emit(RunHalted(halt.step, halt.reason, "resolve it, then `interlock run --resume`"))
                    return True
                state.completed.append(item.id)
                state.save(staging)
            # Decided through this phase: a condition a later phase's artifact decides is pending, not a failure (nor a pass);
            # the gates after this phase are not evaluated yet (the final evaluation below `_phases` decides all four).
            document = gate_results(ctx.artifacts, self.loaded, tuple(range(1, phase + 1)), decided_through=phase)
            gate = document["gates"][phase - 1]
            self.emit(GateEvaluated(phase, gate["name"], gate["status"], failures(gate), relaxed_lines(document, gate), pending(gate)))
            self.emit(PhaseFinished(phase, gate["status"]))
            if phase == 1 and gate["status"] != GateStatus.PASS:
                state.halted_at, state.halt_reason = "gate-1", "Gate 1 (Scope Alignment) failed: " + "; ".join(failures(gate))
                state.completed = [c for c in state.completed if not c.startswith("1.")]
                state.save(staging)
                self.emit(RunHalted("gate-1", state.halt_reason, "resolve the missing artifacts or environment mismatches, then `interlock run --resume`"))
                return True
        state.halted_at = state.halt_reason = None
        state.save(staging)
        return False

    def _settle_publish(self) -> None:
        """Finish what a kill during `_publish` cut short: the previous evidence is back, or its leftover removed.

        Between the two renames there is no published folder; the previous one
        (`.<name>.old`) goes back, and the finished staging folder stays resumable.
        """
        old = self.published.parent / f".{self.published.name}.old"
        if not old.exists():
            return
        if self.published.exists():
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(old, self.published)

    def _publish(self, staging: Path) -> None:
        """Swap the staging folder in for the published one (two renames, the old one removed last)."""
        old = self.published.parent / f".{self.published.name}.old"
        shutil.rmtree(old, ignore_errors=True)
        if self.published.exists():
            os.replace(self.published, old)
        os.replace(staging, self.published)
        shutil.rmtree(old, ignore_errors=True)
