"""A phase-end evaluation (`decided_through`): a condition whose artifact a later phase writes is pending, never a
pass and never a failure of that line; a condition whose artifact should already exist still fails when it is missing;
without `decided_through` (the final and standalone evaluations) nothing is pending and missing evidence fails."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from interlock.artifacts import BY_FILENAME, CONTRACT_RESULTS, RUN_LEDGER, TRACE_EVIDENCE
from interlock.gates import DEFAULT_CONDITIONS, UNDECLARED, Metric, evaluate, failures, pending, producing_phase
from interlock.policy import Gates
from interlock.statuses import GateStatus
from tests.unit.test_gates import passing

NOW = datetime(2026, 11, 26, tzinfo=timezone.utc)
MISSING = Metric(None, f"{TRACE_EVIDENCE.filename} is missing: step 3.1 (`interlock test`) did not run, so no traffic was read")
PENDING_REASON = f"pending: decided after step {TRACE_EVIDENCE.step} writes {TRACE_EVIDENCE.filename}"


def _without_traces() -> dict[str, Metric]:
    metrics = passing()
    metrics["undeclared_dependencies"] = MISSING
    return metrics


def _row(gate: dict, cid: str) -> dict:
    return next(c for c in gate["conditions"] if c["id"] == cid)


def test_at_the_end_of_phase_2_the_missing_trace_evidence_is_pending_and_gate_2_passes() -> None:
    [gate2] = evaluate(_without_traces(), Gates(), [], NOW, (2,), "fail", decided_through=2)
    row = _row(gate2, UNDECLARED)
    assert gate2["status"] == GateStatus.PASS and row["status"] == GateStatus.PENDING and row["blocking"] is True
    assert row["reason"] == PENDING_REASON and row["actual"] is None
    assert failures(gate2) == [] and pending(gate2) == [f"{UNDECLARED}: {PENDING_REASON}"]


def test_the_final_evaluation_fails_the_same_missing_trace_evidence() -> None:
    [gate2] = evaluate(_without_traces(), Gates(), [], NOW, (2,), "fail")
    row = _row(gate2, UNDECLARED)
    assert gate2["status"] == GateStatus.FAIL and row["status"] == GateStatus.FAIL and "is missing" in row["reason"]
    assert pending(gate2) == [] and failures(gate2) == [f"{UNDECLARED}: {MISSING.reason}"]


def test_a_pending_condition_is_never_a_pass_even_when_its_metric_would_pass() -> None:
    [gate2] = evaluate(passing(), Gates(), [], NOW, (2,), "fail", decided_through=2)
    assert _row(gate2, UNDECLARED)["status"] == GateStatus.PENDING and _row(gate2, UNDECLARED)["raw_status"] == GateStatus.PENDING


def test_a_real_finding_is_decided_at_the_final_evaluation_not_hidden() -> None:
    metrics = passing()
    metrics["undeclared_dependencies"] = Metric(1, items=["shipping:GET /shipments"])
    [early] = evaluate(metrics, Gates(), [], NOW, (2,), "fail", decided_through=2)
    [final] = evaluate(metrics, Gates(), [], NOW, (2,), "fail")
    assert early["status"] == GateStatus.PASS and _row(early, UNDECLARED)["status"] == GateStatus.PENDING
    assert final["status"] == GateStatus.FAIL and "shipping:GET /shipments" in _row(final, UNDECLARED)["reason"]


def test_a_missing_artifact_of_the_phase_just_finished_still_fails_its_line() -> None:
    metrics = _without_traces()
    metrics["contracts_failed"] = Metric(None, f"{CONTRACT_RESULTS.filename} is missing: step 2.2 did not run")
    [gate2] = evaluate(metrics, Gates(), [], NOW, (2,), "fail", decided_through=2)
    assert gate2["status"] == GateStatus.FAIL and _row(gate2, "contracts.failed")["status"] == GateStatus.FAIL


@pytest.mark.parametrize("through", [1, 2, 3, 4])
def test_with_no_evidence_at_all_a_condition_is_pending_exactly_when_a_later_phase_writes_its_artifact(through: int) -> None:
    results = evaluate({}, Gates(), [], NOW, (1, 2, 3, 4), "fail", decided_through=through)
    for row in (c for g in results for c in g["conditions"]):
        step = BY_FILENAME[row["artifact"]].step
        later = step[:1].isdigit() and int(step.partition(".")[0]) > through
        assert row["status"] == (GateStatus.PENDING if later else GateStatus.FAIL if row["blocking"] else GateStatus.WARN), row
    for g in results:  # a gate with nothing decided that fails never reads as a pass by a pending one alone
        decided = [c for c in g["conditions"] if c["status"] != GateStatus.PENDING]
        assert g["status"] == (GateStatus.FAIL if any(c["status"] == GateStatus.FAIL for c in decided) else GateStatus.PASS)


def test_nothing_is_pending_without_decided_through() -> None:
    results = evaluate({}, Gates(), [], NOW, (1, 2, 3, 4), "fail")
    assert all(c["status"] != GateStatus.PENDING for g in results for c in g["conditions"])
    assert [g["status"] for g in results] == [GateStatus.FAIL] * 4


def test_the_producing_phase_comes_from_the_catalogue_step() -> None:
    undeclared = next(c for c in DEFAULT_CONDITIONS if c.id == UNDECLARED)
    assert producing_phase(undeclared) == 3 == int(TRACE_EVIDENCE.step.partition(".")[0])
    assert producing_phase(replace(undeclared, artifact=CONTRACT_RESULTS.filename)) == 2
    assert producing_phase(replace(undeclared, artifact=RUN_LEDGER.filename)) is None  # every step's: never pending
    assert producing_phase(replace(undeclared, artifact="not-an-artifact.json")) is None


def test_the_console_shows_the_pending_conditions_under_a_passing_line() -> None:
    import io

    from rich.console import Console

    from interlock.events import GateEvaluated
    from interlock.render import ConsoleRenderer

    [gate2] = evaluate(_without_traces(), Gates(), [], NOW, (2,), "fail", decided_through=2)
    out = io.StringIO()
    ConsoleRenderer(Console(file=out, width=300, force_terminal=False, color_system=None))(
        GateEvaluated(2, gate2["name"], gate2["status"], failures(gate2), [], pending(gate2)))
    lines = out.getvalue().splitlines()
    assert lines == ["Gate 2 Contract Assurance: PASS", f"      … {UNDECLARED}: {PENDING_REASON}"]
