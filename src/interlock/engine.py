"""Runs the protocol's steps in order, evaluates the gates, halts and resumes.

A full run works in a staging folder beside the artifact folder and publishes
it (rename) when it finishes or halts, so a killed run leaves the previous
artifacts intact and a new run never mixes with a previous run's evidence.
The engine emits events and returns an exit code; it never prints.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from filelock import FileLock, Timeout

from interlock import metrics
from interlock.artifacts import ArtifactDir, atomic_write
from interlock.config import Loaded
from interlock.errors import ExitCode, Problem, UsageError
from interlock.events import (
    Emit,
    GateEvaluated,
    PhaseFinished,
    PhaseStarted,
    RunFinished,
    RunHalted,
    RunStarted,
    StepFinished,
    StepStarted,
)
from interlock.gates import evaluate, failures
from interlock.phases import HaltRun, Outcome, Step, not_implemented
from interlock.runtime import RunContext, utc_now

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
STATE_FILE = ".interlock-state.json"


def _resolve(target: str, step_id: str) -> Callable[[RunContext], Outcome]:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return not_implemented(step_id)
        raise
    return getattr(module, attr)


def steps() -> list[Step]:
    """The protocol's steps, in the order a run takes them (4.3 before 4.1: the bundle holds the recommendations)."""
    return [Step(i, phase, title, _resolve(target, i), needs) for i, phase, title, target, needs in STEPS]


def step(step_id: str) -> Step:
    """One step, importing only its own module (a single-step command need not load every phase)."""
    i, phase, title, target, needs = next(s for s in STEPS if s[0] == step_id)
    return Step(i, phase, title, _resolve(target, i), needs)


@dataclass
class RunState:
    """What a resumable run has done so far."""

    run_id: str
    environment: str
    started_at: str
    completed: list[str] = field(default_factory=list)
    halted_at: str | None = None
    halt_reason: str | None = None

    @classmethod
    def load(cls, folder: Path) -> RunState | None:
        try:
            return cls(**json.loads((folder / STATE_FILE).read_text("utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def save(self, folder: Path) -> None:
        atomic_write(folder / STATE_FILE, json.dumps(self.__dict__, indent=2).encode())


def gate_results(artifacts: ArtifactDir, loaded: Loaded, gates: tuple[int, ...] = (1, 2, 3, 4)) -> dict[str, Any]:
    """Evaluate gates from the artifact folder alone and write gate-results.json."""
    pubkey = loaded.resolve(loaded.config.signoff.pubkey) if loaded.config.signoff.pubkey else None
    now = datetime.now(timezone.utc)
    results = evaluate(metrics.read_metrics(artifacts, pubkey, evidence=4 in gates, now=now), loaded.config.gates, loaded.config.waivers, now, gates)
    document = {"schema_version": 1, "generated_at": utc_now(), "status": "pass" if all(g["status"] == "pass" for g in results) else "fail", "gates": results}
    artifacts.write_json("gate-results.json", document)
    return document


class Engine:
    """One run of the protocol, or of some of its steps, against one environment."""

    def __init__(self, loaded: Loaded, env_name: str, artifacts_root: Path, emit: Emit, confirm: Callable[[str], tuple[bool, str]], pytest_args: list[str] | None = None) -> None:
        loaded.environment(env_name)
        self.loaded, self.env_name, self.published, self.emit, self.confirm = loaded, env_name, artifacts_root, emit, confirm
        self.pytest_args = pytest_args or []

    def _context(self, folder: Path, run_id: str, started_at: str | None = None) -> RunContext:
        ctx = RunContext(self.loaded, self.env_name, ArtifactDir(folder), self.emit, self.confirm, run_id, pytest_args=self.pytest_args, published=self.published)
        if started_at:
            ctx.started_at = started_at
        return ctx

    def _run_step(self, ctx: RunContext, item: Step) -> Outcome:
        self.emit(StepStarted(item.id, item.title))
        if item.needs_services:
            ctx.services.start()
        outcome = item.run(ctx)
        self.emit(StepFinished(item.id, item.title, outcome.status, outcome.reason))
        return outcome

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """One writer per artifact folder; the OS drops the lock of a dead process, so a stale lock never blocks."""
        self.published.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.published.parent / f".{self.published.name}.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise UsageError(Problem(str(self.published), "another interlock run is writing this artifact folder; wait for it to finish")) from None
        try:
            yield
        finally:
            lock.release()

    def run_steps(self, step_ids: list[str]) -> int:
        """Run single steps in place (the per-step commands); exit 1 when one did not pass."""
        with self._lock():
            return self._run_steps(step_ids)

    def _run_steps(self, step_ids: list[str]) -> int:
        folder = self.published
        folder.mkdir(parents=True, exist_ok=True)
        state = RunState.load(folder)
        ctx = self._context(folder, state.run_id if state else uuid.uuid4().hex[:12])
        code = ExitCode.OK
        try:
            for step_id in step_ids:
                if self._run_step(ctx, step(step_id)).status != "pass":
                    code = ExitCode.FAILED
        except HaltRun as halt:
            self.emit(RunHalted(halt.step, halt.reason, "fix the cause, then rerun the command"))
            code = ExitCode.HALTED
        finally:
            ctx.services.stop()
        return code

    def run(self, resume: bool = False) -> int:
        """The whole protocol; returns the exit code (0 all gates pass, 1 a gate failed, 3 halted)."""
        state = RunState.load(self.published) if resume else None
        if resume and (state is None or state.halted_at is None or state.environment != self.env_name):
            raise UsageError(Problem(str(self.published), f"no halted run of environment {self.env_name!r} to resume; start one with `interlock run`"))
        if state is None:
            state = RunState(uuid.uuid4().hex[:12], self.env_name, utc_now())
        with self._lock():
            for stale in self.published.parent.glob(f".{self.published.name}.run-*"):
                shutil.rmtree(stale, ignore_errors=True)  # left by a killed run: the lock says nobody owns it
            staging = self.published.parent / f".{self.published.name}.run-{state.run_id}"
            if resume:
                shutil.copytree(self.published, staging)
            staging.mkdir(parents=True, exist_ok=True)
            ctx = self._context(staging, state.run_id, state.started_at)
            self.emit(RunStarted(state.run_id, self.env_name, resume))
            try:
                halted = self._phases(ctx, state, staging)
            finally:
                ctx.services.stop()
            self._publish(staging)  # only a run that finished or halted replaces the previous evidence
        document = gate_results(ArtifactDir(self.published), self.loaded)
        gates = {str(g["id"]): g["status"] for g in document["gates"]}
        bundle = self.published / "INTEGRATION-EVIDENCE.zip"
        if halted:
            code, status = ExitCode.HALTED, "halted"
        elif document["status"] == "pass":
            code, status = ExitCode.OK, "complete"
        else:
            code, status = ExitCode.FAILED, "failed"
        self.emit(RunFinished(status, int(code), gates, str(bundle) if bundle.exists() else None))
        return code

    def _phases(self, ctx: RunContext, state: RunState, staging: Path) -> bool:
        """Run the phases; True when the run halted."""
        by_phase: dict[int, list[Step]] = {}
        for item in steps():
            by_phase.setdefault(item.phase, []).append(item)
        for phase, items in by_phase.items():
            if not any(i.needs_services for i in items):
                ctx.services.stop()  # their logs must be final before the evidence is sealed
            self.emit(PhaseStarted(phase))
            for item in items:
                if item.id in state.completed:
                    self.emit(StepFinished(item.id, item.title, "done", "completed before the halt; kept"))
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
            gate = gate_results(ctx.artifacts, self.loaded)["gates"][phase - 1]
            self.emit(GateEvaluated(phase, gate["name"], gate["status"], failures(gate)))
            self.emit(PhaseFinished(phase, gate["status"]))
            if phase == 1 and gate["status"] != "pass":
                state.halted_at, state.halt_reason = "gate-1", "Gate 1 (Scope Alignment) failed: " + "; ".join(failures(gate))
                state.completed = [c for c in state.completed if not c.startswith("1.")]
                state.save(staging)
                self.emit(RunHalted("gate-1", state.halt_reason, "resolve the missing artifacts or environment mismatches, then `interlock run --resume`"))
                return True
        state.halted_at = state.halt_reason = None
        state.save(staging)
        return False

    def _publish(self, staging: Path) -> None:
        """Swap the staging folder in for the published one (two renames, the old one removed last)."""
        old = self.published.parent / f".{self.published.name}.old"
        shutil.rmtree(old, ignore_errors=True)
        if self.published.exists():
            os.replace(self.published, old)
        os.replace(staging, self.published)
        shutil.rmtree(old, ignore_errors=True)
