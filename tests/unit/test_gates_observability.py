"""Gate 2's trace and metric conditions (issue 16): a required-traces service with no span, required metric
names missing from a scrape, and undeclared dependencies seen in traced traffic, read fail-closed from the
artifacts alone (so `interlock gates` on a copied folder gives the same answer)."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from interlock import gates, metrics, verdict
from interlock.artifacts import OBSERVABILITY_DATA, TRACE_EVIDENCE, ArtifactDir
from interlock.cli import app
from interlock.config import ConfigError
from interlock.policy import ConditionOverride, Gates
from interlock.statuses import GateStatus
from tests.unit.test_phases_phase4 import System, readiness_data, trace_evidence

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
TRACES, METRICS, UNDECLARED = "observability.traces_required_missing", "observability.metrics_missing", gates.UNDECLARED
FAIL = '\n[observability]\nundeclared = "fail"\n'
REPORT = '\n[observability]\nundeclared = "report"\n'


def _readiness(spans: int = 3, required: bool = False, missing: tuple[str, ...] = ()) -> dict[str, Any]:
    data = readiness_data()
    data["services"][0].update(spans=spans, traces_required=required, metrics_missing=list(missing))
    return data


def _row(document: dict[str, Any], cid: str) -> dict[str, Any]:
    return next(c for g in document["gates"] for c in g["conditions"] if c["id"] == cid)


def _gate2(system: System) -> dict[str, Any]:
    return verdict.decide(system.folder, system.loaded, (2,))


def _system(root: Path, extra: str = "", evidence: dict[str, Any] | None = None, readiness: dict[str, Any] | None = None) -> System:
    system = System(root, extra_toml=extra)
    system.folder.write_json(OBSERVABILITY_DATA, readiness or _readiness())
    if evidence is None:
        system.folder.path(TRACE_EVIDENCE).unlink()
    else:
        system.folder.write_json(TRACE_EVIDENCE, evidence)
    return system


def test_the_conditions_pass_on_a_clean_folder(tmp_path: Path) -> None:
    document = _gate2(_system(tmp_path, FAIL, trace_evidence()))
    assert document["gates"][0]["status"] == GateStatus.PASS
    for cid in (TRACES, METRICS, UNDECLARED):
        row = _row(document, cid)
        assert row["status"] == GateStatus.PASS and row["actual"] == 0 and row["reason"] is None, row


def test_a_required_traces_service_with_no_span_fails_gate_2_by_name(tmp_path: Path) -> None:
    document = _gate2(_system(tmp_path, "", trace_evidence(), _readiness(spans=0, required=True)))
    row = _row(document, TRACES)
    assert document["gates"][0]["status"] == GateStatus.FAIL and row["status"] == GateStatus.FAIL and row["actual"] == 1
    assert 'catalog (traces = "required", no span received)' in row["reason"]


def test_an_optional_service_with_no_span_does_not_fail(tmp_path: Path) -> None:
    assert _row(_gate2(_system(tmp_path, "", trace_evidence(), _readiness(spans=0))), TRACES)["status"] == GateStatus.PASS


def test_missing_required_metric_names_fail_gate_2_naming_each(tmp_path: Path) -> None:
    row = _row(_gate2(_system(tmp_path, "", trace_evidence(), _readiness(missing=("http_requests_total", "orders_placed")))), METRICS)
    assert row["status"] == GateStatus.FAIL and row["actual"] == 2
    assert "catalog lacks http_requests_total" in row["reason"] and "catalog lacks orders_placed" in row["reason"]


def test_undeclared_fail_blocks_and_report_warns(tmp_path: Path) -> None:
    found = trace_evidence(("catalog:GET /admin/stats", "orders"))
    blocked = _gate2(_system(tmp_path / "fail", FAIL, found))
    row = _row(blocked, UNDECLARED)
    assert blocked["gates"][0]["status"] == GateStatus.FAIL and row["status"] == GateStatus.FAIL and row["blocking"] is True
    assert "catalog:GET /admin/stats (called by orders)" in row["reason"]
    for extra in (REPORT, ""):
        warned = _gate2(_system(tmp_path / f"report{len(extra)}", extra, found))
        row = _row(warned, UNDECLARED)
        assert warned["gates"][0]["status"] == GateStatus.PASS and row["status"] == GateStatus.WARN and row["blocking"] is False
        assert "catalog:GET /admin/stats" in row["reason"]


def test_one_interface_called_by_two_callers_counts_once_naming_both(tmp_path: Path) -> None:
    row = _row(_gate2(_system(tmp_path, FAIL, trace_evidence(("catalog:GET /x", "orders"), ("catalog:GET /x", None)))), UNDECLARED)
    assert row["actual"] == 1 and "catalog:GET /x (called by orders, unknown caller)" in row["reason"]


@pytest.mark.parametrize("content", [None, b"not json", b"{}", b'{"schema_version": 1}'])
def test_a_missing_or_garbage_trace_evidence_fails_closed(tmp_path: Path, content: bytes | None) -> None:
    system = _system(tmp_path, FAIL)
    if content is not None:
        system.folder.path(TRACE_EVIDENCE).write_bytes(content)
    row = _row(_gate2(system), UNDECLARED)
    assert row["status"] == GateStatus.FAIL and row["actual"] is None
    assert row["reason"].startswith(TRACE_EVIDENCE.filename) and "\n" not in row["reason"]


def test_missing_trace_evidence_is_a_warning_when_undeclared_only_reports(tmp_path: Path) -> None:
    row = _row(_gate2(_system(tmp_path, REPORT)), UNDECLARED)
    assert row["status"] == GateStatus.WARN and row["reason"] == f"{TRACE_EVIDENCE.filename} is missing: step 3.1 (`interlock test`) did not run, so no traffic was read"


def test_no_receiver_proves_no_absence_of_undeclared_dependencies(tmp_path: Path) -> None:
    row = _row(_gate2(_system(tmp_path, FAIL, trace_evidence(receiver=False))), UNDECLARED)
    assert row["status"] == GateStatus.FAIL and "no traffic was observed" in row["reason"]


@pytest.mark.parametrize("content", [None, b"garbage", b"[]"])
def test_a_missing_or_garbage_readiness_fails_both_conditions_closed(tmp_path: Path, content: bytes | None) -> None:
    system = _system(tmp_path, "", trace_evidence())
    path = system.folder.path(OBSERVABILITY_DATA)
    path.unlink()
    if content is not None:
        path.write_bytes(content)
    document = _gate2(system)
    for cid in (TRACES, METRICS):
        row = _row(document, cid)
        assert row["status"] == GateStatus.FAIL and row["actual"] is None and row["reason"].startswith(OBSERVABILITY_DATA.filename)


def test_a_readiness_without_the_span_fields_fails_closed(tmp_path: Path) -> None:
    old = _readiness()
    del old["services"][0]["spans"]
    system = _system(tmp_path, "", trace_evidence())
    system.folder.path(OBSERVABILITY_DATA).write_text(json.dumps(old))
    assert _row(_gate2(system), TRACES)["actual"] is None


def test_a_waiver_of_one_undeclared_interface_covers_it_and_no_other(tmp_path: Path) -> None:
    waiver = ('\n[[waivers]]\ncondition = "observability.undeclared_dependencies"\nitem = "catalog:GET /a"\njustification = "j"\n'
              'approver = "Dana"\nticket = "T-1"\nexpires = 2099-01-01T00:00:00Z\n')
    system = _system(tmp_path, FAIL + waiver, trace_evidence(("catalog:GET /a", "orders"), ("catalog:GET /b", "orders")))
    row = _row(_gate2(system), UNDECLARED)
    assert row["status"] == GateStatus.FAIL and row["actual"] == 2 and "catalog:GET /b" in row["reason"] and "GET /a" not in row["reason"]
    assert [w["item"] for w in row["waivers"]] == ["catalog:GET /a"]


def test_blocking_false_under_undeclared_fail_is_a_relaxation_that_needs_an_approval() -> None:
    plain = Gates(conditions={UNDECLARED: ConditionOverride(blocking=False)})
    assert gates.policy_problems(plain, [], "report") == []
    problems = gates.policy_problems(plain, [], "fail")
    assert len(problems) == 1 and "relaxes observability.undeclared_dependencies (blocking = false)" in problems[0][1]
    approved = Gates(conditions={UNDECLARED: ConditionOverride(blocking=False, justification="j", approver="Dana", ticket="T-1",
                                                               expires=datetime(2099, 1, 1, tzinfo=timezone.utc))})
    relaxed = gates.relaxations(approved, [], NOW, (2,), "fail")
    assert [(r["condition"], r["change"]) for r in relaxed] == [(UNDECLARED, "blocking = false")]
    assert gates.relaxations(approved, [], NOW, (2,), "report") == []
    assert next(c for c in gates.conditions(approved, NOW, "fail") if c.id == UNDECLARED).blocking is False
    assert next(c for c in gates.conditions(Gates(), NOW, "fail") if c.id == UNDECLARED).blocking is True


def test_loading_a_config_refuses_an_unapproved_relaxation_under_undeclared_fail(tmp_path: Path) -> None:
    relax = '\n[gates.conditions."observability.undeclared_dependencies"]\nblocking = false\n'
    System(tmp_path / "report", extra_toml=REPORT + relax)
    with pytest.raises(ConfigError, match="relaxes observability.undeclared_dependencies"):
        System(tmp_path / "fail", extra_toml=FAIL + relax)


def test_gates_on_a_copied_folder_give_the_same_answer(tmp_path: Path) -> None:
    system = _system(tmp_path / "a", FAIL, trace_evidence(("catalog:GET /admin/stats", "orders")), _readiness(spans=0, required=True))
    copy = tmp_path / "copy"
    shutil.copytree(system.folder.root, copy)
    here = metrics.read_metrics(system.folder, None, evidence=False)
    there = metrics.read_metrics(ArtifactDir(copy), None, evidence=False)
    for name in ("traces_required_missing", "metrics_missing", "undeclared_dependencies"):
        assert here[name] == there[name]
    result = CliRunner().invoke(app, ["--config", str(tmp_path / "a/interlock.toml"), "--artifacts", str(copy), "gates"])
    assert result.exit_code == 1, result.output
    assert "observability.traces_required_missing" in result.output and "catalog" in result.output
    assert "observability.undeclared_dependencies" in result.output
