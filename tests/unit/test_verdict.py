"""The verdict: `decide` reads the folder and writes nothing; `record` is the one writer of gate-results.json."""

from __future__ import annotations

from pathlib import Path

from interlock import verdict
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
