"""The verdict: `decide` reads the folder and writes nothing; `record` is the one writer of gate-results.json."""

from __future__ import annotations

from pathlib import Path

from interlock import verdict
from interlock.artifacts import TRACE_EVIDENCE
from interlock.gates import UNDECLARED
from interlock.statuses import GateStatus
from tests.unit.test_phases_phase4 import System


def test_decide_writes_nothing_and_record_writes_what_was_decided(tmp_path: Path) -> None:
    system = System(tmp_path)
    target = system.folder.path(verdict.GATE_RESULTS)
    document = verdict.decide(system.folder, system.loaded, (1, 2, 3))
    assert not target.exists()
    assert document["status"] == "pass" and [g["id"] for g in document["gates"]] == [1, 2, 3]
    verdict.record(system.folder, document)
    assert system.folder.read_json(verdict.GATE_RESULTS) == document


def test_gate_results_decides_and_records(tmp_path: Path) -> None:
    system = System(tmp_path)
    document = verdict.gate_results(system.folder, system.loaded, (1, 2, 3))
    assert system.folder.read_json(verdict.GATE_RESULTS) == document
    assert {k: v for k, v in document.items() if k != "generated_at"} == {
        k: v for k, v in verdict.decide(system.folder, system.loaded, (1, 2, 3)).items() if k != "generated_at"}


def test_a_phase_end_document_records_its_phase_is_never_a_pass_while_pending_and_fits_its_schema(tmp_path: Path) -> None:
    system = System(tmp_path, extra_toml='\n[observability]\nundeclared = "fail"\n')
    system.folder.path(TRACE_EVIDENCE).unlink()
    document = verdict.gate_results(system.folder, system.loaded, (1, 2), decided_through=2)
    assert system.folder.read_json(verdict.GATE_RESULTS) == document  # recorded: schema-checked on write and read
    assert document["decided_through"] == 2 and [g["status"] for g in document["gates"]] == [GateStatus.PASS, GateStatus.PASS]
    assert document["status"] == GateStatus.FAIL  # a pending condition is no pass of the document
    [row] = [c for g in document["gates"] for c in g["conditions"] if c["status"] == GateStatus.PENDING]
    assert row["id"] == UNDECLARED


def test_every_evaluation_but_a_phase_end_decides_a_missing_later_artifact_fail_closed(tmp_path: Path) -> None:
    system = System(tmp_path, extra_toml='\n[observability]\nundeclared = "fail"\n')
    system.folder.path(TRACE_EVIDENCE).unlink()
    for document in (verdict.decide(system.folder, system.loaded), verdict.gate_results(system.folder, system.loaded, (1, 2, 3))):
        assert "decided_through" not in document and document["status"] == GateStatus.FAIL
        assert all(c["status"] != GateStatus.PENDING for g in document["gates"] for c in g["conditions"])
        [row] = [c for g in document["gates"] for c in g["conditions"] if c["id"] == UNDECLARED]
        assert row["status"] == GateStatus.FAIL and row["reason"].startswith(f"{TRACE_EVIDENCE.filename} is missing")
