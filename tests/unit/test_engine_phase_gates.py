"""The engine's gate lines: a phase-end line leaves a later phase's evidence pending; the run's final verdict, its
result line and gate-results.json decide it fail-closed, also when the run halts before that evidence is written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from interlock import events as ev
from interlock import runspec
from interlock.artifacts import GATE_RESULTS, TRACE_EVIDENCE
from interlock.engine import STEPS, Engine
from interlock.gates import UNDECLARED
from interlock.protocol import HaltRun, Outcome, Step
from interlock.context import RunContext
from interlock.statuses import GateStatus
from tests.unit.test_phases_phase4 import System

FAIL = '\n[observability]\nundeclared = "fail"\n'
#: What phases 1 and 2 write, taken from the hand-made folder (everything but what phases 3 and 4 write).
LATER = ("test-execution-report.json", TRACE_EVIDENCE.filename, "defect-log.csv", "regression-summary.json", "regression-summary.md", "logs/pytest.log")


def _run(tmp_path: Path, halt_at: str | None) -> tuple[int, list[ev.Event], dict[str, Any]]:
    """A run whose phase 1-2 steps copy a passing folder's evidence and whose step `halt_at` halts; the rest do nothing."""
    system = System(tmp_path / "system", FAIL)
    source = system.folder.root
    for name in LATER:
        (source / name).unlink()

    def make(step_id: str) -> Step:
        def run(ctx: RunContext) -> Outcome:
            if step_id == "1.1":
                shutil.copytree(source, ctx.artifacts.root, dirs_exist_ok=True)
            if step_id == halt_at:
                raise HaltRun(step_id, "stopped by the test")
            return Outcome.of(True)
        return run

    steps = [Step(i, phase, title, make(i)) for i, phase, title, _, _ in STEPS]
    seen: list[ev.Event] = []
    published = tmp_path / "art"
    code = Engine(runspec.build(system.loaded, "integration"), published, seen.append, lambda kind: (True, "test"), steps=steps).run()
    return code, seen, json.loads((published / GATE_RESULTS.filename).read_text("utf-8"))


def _gate_line(seen: list[ev.Event], gate: int) -> ev.GateEvaluated:
    return next(e for e in seen if isinstance(e, ev.GateEvaluated) and e.gate == gate)


def _row(document: dict[str, Any], cid: str) -> dict[str, Any]:
    return next(c for g in document["gates"] for c in g["conditions"] if c["id"] == cid)


def test_a_run_halted_after_phase_2_shows_gate_2_pending_then_fails_it_at_the_end(tmp_path: Path) -> None:
    code, seen, document = _run(tmp_path, "3.1")
    line = _gate_line(seen, 2)
    assert line.status == GateStatus.PASS and line.failures == [], line
    assert line.pending == [f"{UNDECLARED}: pending: decided after step 3.1 writes {TRACE_EVIDENCE.filename}"]
    finished = next(e for e in seen if isinstance(e, ev.RunFinished))
    assert code == 3 and finished.status == "halted"
    assert finished.gates == {"1": GateStatus.PASS, "2": GateStatus.FAIL, "3": GateStatus.NOT_RUN, "4": GateStatus.NOT_RUN}
    assert "decided_through" not in document and document["status"] == GateStatus.FAIL
    assert all(c["status"] != GateStatus.PENDING for g in document["gates"] for c in g["conditions"])
    row = _row(document, UNDECLARED)
    assert row["status"] == GateStatus.FAIL and row["reason"].startswith(f"{TRACE_EVIDENCE.filename} is missing")


def test_a_run_whose_3_1_never_writes_the_trace_evidence_fails_gate_2_in_its_final_verdict(tmp_path: Path) -> None:
    code, seen, document = _run(tmp_path, None)
    assert _gate_line(seen, 2).status == GateStatus.PASS and _gate_line(seen, 2).pending
    assert not _gate_line(seen, 4).pending  # the last phase's line decides everything
    finished = next(e for e in seen if isinstance(e, ev.RunFinished))
    assert code == 1 and finished.gates["2"] == GateStatus.FAIL
    assert _row(document, UNDECLARED)["status"] == GateStatus.FAIL and "decided_through" not in document
