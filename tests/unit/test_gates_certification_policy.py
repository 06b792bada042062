"""The certification policy: every way to fake a green through the config or a status must fail, for the right reason."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from interlock import statuses
from interlock.artifacts import ArtifactDir
from interlock.config import parse
from interlock.policy import ConditionOverride, Gates, Waiver
from interlock.defects import COLUMNS, defect_id, fingerprint
from interlock.errors import ConfigError
from interlock.gates import DEFAULT_CONDITIONS, INTEGRITY, Metric, evaluate, policy_problems, relaxations
from interlock.metrics import read_metrics
from interlock.phases.triage import apply_waivers
from tests.support import config_head

NOW = datetime(2026, 11, 26, tzinfo=timezone.utc)
LATER = NOW + timedelta(days=30)
APPROVAL: dict[str, Any] = {"justification": "vendor fix due", "approver": "QA lead", "ticket": "QA-9", "expires": LATER}
NODE = "tests/test_catalog.py::test_missing_product_is_404"
BASE = config_head() + '\n[services.api]\n\n[environments.t.services.api]\nurl = "http://127.0.0.1:1"\n'


def passing() -> dict[str, Metric]:
    return {c.metric: Metric(c.threshold + 1 if c.operator == ">" else c.threshold) for c in DEFAULT_CONDITIONS}


def row(results: list[dict[str, Any]], condition_id: str) -> dict[str, Any]:
    return next(c for g in results for c in g["conditions"] if c["id"] == condition_id)


# --- statuses ----------------------------------------------------------------------------------------

def test_every_status_has_exactly_one_verdict() -> None:
    """A new enum member must be placed in one verdict set: none counts as a pass by being forgotten."""
    contract_sets = (statuses.CONTRACT_PASSED, statuses.CONTRACT_NOT_PASSED, statuses.CONTRACT_NOT_RUN)
    assert sorted(m for s in contract_sets for m in s) == sorted(statuses.ContractStatus)
    test_sets = (statuses.TEST_RED, statuses.TEST_GREEN, statuses.TEST_NOT_RUN)
    assert sorted(m for s in test_sets for m in s) == sorted(statuses.TestOutcome)
    assert statuses.CONTRACT_PASSED == {statuses.ContractStatus.PASS}


@pytest.mark.parametrize("value", ["FAIL", "skipped", "", None, 1, "Pass"])
def test_a_status_outside_the_enum_is_refused_with_its_path(value: object) -> None:
    with pytest.raises(statuses.StatusError) as refused:
        statuses.parse(statuses.ContractStatus, value, "r.json: $.contracts[0].interactions[2]")
    assert str(refused.value).startswith("r.json: $.contracts[0].interactions[2]: status ") and "pass, fail, error" in str(refused.value)


# --- Gate 2 from the artifact: only pass is a pass ----------------------------------------------------

def contract_results(*item_statuses: Any) -> dict[str, Any]:
    items = [{"id": f"web->catalog: {n}", "description": str(n), "provider_states": [], "status": s, "duration_ms": 1.0, "mismatches": []}
             for n, s in enumerate(item_statuses)]
    return {"schema_version": 1, "generated_at": "2026-11-26T00:00:00Z", "environment": "t", "status": "pass",
            "contracts": [{"id": "pact:web->catalog", "kind": "pact", "consumer": "web", "provider": "catalog", "source": "contracts/web-catalog.json",
                           "specification": "V3", "status": "pass", "duration_ms": 1.0, "reason": None, "interactions": items}],
            "summary": {"contracts": 1, "interactions": len(items), "passed": 0, "failed": 0, "errors": 0, "pending": 0, "not_executed": 0}}


def gate2(tmp_path: Path, document: dict[str, Any]) -> list[dict[str, Any]]:
    (tmp_path / "contract-validation-results.json").write_text(json.dumps(document))
    metrics = read_metrics(ArtifactDir(tmp_path), None, evidence=False, now=NOW)
    return evaluate({**passing(), **{k: v for k, v in metrics.items() if k.startswith("contract")}}, Gates(), [], NOW, (2,))


@pytest.mark.parametrize("bad", ["FAIL", "skipped", "passed", None])
def test_an_unknown_contract_status_fails_gate_2_naming_it(tmp_path: Path, bad: object) -> None:
    results = gate2(tmp_path, contract_results("pass", bad))
    assert results[0]["status"] == "fail"
    failed = row(results, "contracts.failed")
    assert failed["actual"] is None and "$.contracts[0].interactions[1]" in failed["reason"]


def test_all_pending_fails_gate_2(tmp_path: Path) -> None:
    results = gate2(tmp_path, contract_results("pending", "pending"))
    assert results[0]["status"] == "fail"
    assert row(results, "contracts.passed")["status"] == "fail" and "no contract interaction passed" in row(results, "contracts.passed")["reason"]
    assert row(results, "contracts.failed")["actual"] == 2  # pending is not a pass


def test_only_pass_passes_gate_2(tmp_path: Path) -> None:
    assert gate2(tmp_path, contract_results("pass", "pass"))[0]["status"] == "pass"
    assert gate2(tmp_path, contract_results("pass", "error"))[0]["status"] == "fail"


# --- Gate 3: a red test holds until its defect is resolved with a passing rerun or waived ---------------

def report(tests: list[tuple[str, str]], failures: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    listed = failures if failures is not None else [(n, o) for n, o in tests if o in ("failed", "error")]
    return {"root": "/sut", "exitcode": 1, "summary": {"total": len(tests), "collected": len(tests)},
            "tests": [{"nodeid": n, "outcome": o, "keywords": []} for n, o in tests],
            "interlock": {"command": ["pytest"], "exit_code": 1, "log": "logs/pytest.log", "environment": "t", "filtered": False, "system_root": "/sut",
                          "summary": {"passed": 0, "failed": 0, "skipped": 0, "errors": 0, "total": len(tests), "collected": len(tests), "deselected": 0},
                          "failures": [{"nodeid": n, "outcome": o, "message": "", "critical": False, "interfaces": [], "rerun": ""} for n, o in listed]}}


def defect(nodeid: str = NODE, **fields: str) -> dict[str, str]:
    found = dict.fromkeys(COLUMNS, "")
    found.update(id=defect_id("test", nodeid), fingerprint=fingerprint("test", nodeid), source="test", severity="low", status="open")
    found.update(fields)
    return found


def unresolved(tmp_path: Path, test_report: dict[str, Any], rows: list[dict[str, str]], waivers: list[Waiver] = ()) -> dict[str, Any]:
    folder = ArtifactDir(tmp_path)
    (tmp_path / "test-execution-report.json").write_text(json.dumps(test_report))
    folder.write_csv("defect-log.csv", COLUMNS, rows)
    metrics = read_metrics(folder, None, evidence=False, now=NOW)
    return row(evaluate({**passing(), "unresolved_test_failures": metrics["unresolved_test_failures"]}, Gates(), list(waivers), NOW, (3,)),
               "tests.unresolved_failures")


def test_a_failed_low_severity_test_fails_gate_3_naming_defect_and_test(tmp_path: Path) -> None:
    result = unresolved(tmp_path, report([(NODE, "failed"), ("tests/test_catalog.py::test_list", "passed")]), [defect(severity="low")])
    assert result["status"] == "fail"
    assert f"{defect_id('test', NODE)} ({NODE})" in result["reason"]


@pytest.mark.parametrize("fields", [
    {"status": "mitigated", "mitigation": "next sprint"},  # a plan is not a fix
    {"status": "resolved", "regression": ""},  # resolved without a rerun
    {"status": "resolved", "regression": "fail"},
    {"status": "waived", "waiver_approver": "", "waiver_reason": "r", "waiver_expires": "2099-01-01T00:00:00Z"},
    {"status": "waived", "waiver_approver": "qa", "waiver_reason": "", "waiver_expires": "2099-01-01T00:00:00Z"},
    {"status": "waived", "waiver_approver": "qa", "waiver_reason": "r", "waiver_expires": "2026-01-01T00:00:00Z"},  # expired
    {"status": "waived", "waiver_approver": "qa", "waiver_reason": "r", "waiver_expires": "2099-01-01T00:00:00"},  # no UTC
])
def test_a_red_test_is_not_settled_by(tmp_path: Path, fields: dict[str, str]) -> None:
    assert unresolved(tmp_path, report([(NODE, "failed")]), [defect(**fields)])["status"] == "fail"


@pytest.mark.parametrize("fields", [
    {"status": "resolved", "regression": "pass"},
    {"status": "waived", "waiver_approver": "qa", "waiver_reason": "vendor fix", "waiver_expires": "2099-01-01T00:00:00Z"},
])
def test_a_red_test_is_settled_by(tmp_path: Path, fields: dict[str, str]) -> None:
    assert unresolved(tmp_path, report([(NODE, "failed")]), [defect(**fields)])["status"] == "pass"


def test_a_red_test_without_a_defect_is_unresolved(tmp_path: Path) -> None:
    result = unresolved(tmp_path, report([(NODE, "error")]), [])
    assert result["status"] == "fail" and "no defect recorded" in result["reason"]


def test_emptying_interlocks_failure_list_hides_nothing(tmp_path: Path) -> None:
    """pytest's own per-test record still says the test failed."""
    assert unresolved(tmp_path, report([(NODE, "failed")], failures=[]), [])["status"] == "fail"


def test_emptying_pytests_test_list_hides_nothing(tmp_path: Path) -> None:
    assert unresolved(tmp_path, report([], failures=[(NODE, "failed")]), [])["status"] == "fail"


def test_an_unknown_test_outcome_fails_gate_3(tmp_path: Path) -> None:
    result = unresolved(tmp_path, report([(NODE, "FAILED")], failures=[]), [])
    assert result["status"] == "fail" and result["actual"] is None and "'FAILED' is not one of passed" in result["reason"]


def test_a_config_waiver_names_the_defect_of_its_own_condition(tmp_path: Path) -> None:
    ident = defect_id("test", NODE)
    own = Waiver(condition="tests.unresolved_failures", item=ident, **APPROVAL)
    assert unresolved(tmp_path, report([(NODE, "failed")]), [defect()], [own])["status"] == "pass"
    # A waiver of the same defect under another condition, of another item, or expired, covers nothing here.
    for other in (Waiver(condition="defects.open_critical", item=ident, **APPROVAL),
                  Waiver(condition="tests.unresolved_failures", item="DEF-00000000", **APPROVAL),
                  Waiver(condition="tests.unresolved_failures", item=ident, **{**APPROVAL, "expires": NOW - timedelta(seconds=1)})):
        assert unresolved(tmp_path, report([(NODE, "failed")]), [defect()], [other])["status"] == "fail"


def test_triage_waives_a_defect_only_by_its_id_under_a_defect_condition() -> None:
    rows = [defect(), defect("tests/test_x.py::test_y")]
    apply_waivers(rows, [Waiver(condition="tests.unresolved_failures", item=rows[0]["id"], **APPROVAL),
                         Waiver(condition="contracts.failed", item=rows[1]["id"], **APPROVAL),
                         Waiver(condition="tests.unresolved_failures", item=NODE, **APPROVAL)])
    assert [r["status"] for r in rows] == ["waived", "open"]
    assert rows[0]["waiver_approver"] == "QA lead" and rows[0]["waiver_expires"] == "2026-12-26T00:00:00Z"


# --- integrity conditions take no waiver and no override ---------------------------------------------

def test_integrity_lists_the_shared_ids() -> None:
    assert INTEGRITY == {
        "environment.checks", "environment.unprobed", "contracts.total", "contracts.not_executed", "contracts.filtered", "contracts.passed",
        "tests.ran", "tests.filtered", "tests.consistent", "tests.critical_not_run", "manifest.uncovered", "bundle.problems", "signoff.valid",
        "signoff.commit", "ledger.unproduced", "evidence.identity", "scope.undeclared_pacts"}


@pytest.mark.parametrize("condition", sorted(INTEGRITY & {c.id for c in DEFAULT_CONDITIONS}))
def test_evaluate_ignores_every_waiver_and_override_on_an_integrity_condition(condition: str) -> None:
    cond = next(c for c in DEFAULT_CONDITIONS if c.id == condition)
    metrics = {**passing(), cond.metric: Metric(None, "no evidence", items=["x"])}
    waivers = [Waiver(condition=condition, **APPROVAL), Waiver(condition=condition, item="x", **APPROVAL)]
    relaxed = ConditionOverride(threshold=-1, operator="!=", blocking=False, **APPROVAL)
    results = evaluate(metrics, Gates(conditions={condition: relaxed}), waivers, NOW, (cond.gate,))
    found = row(results, condition)
    assert (found["status"], found["waivers"], found["operator"], found["threshold"]) == ("fail", [], cond.operator, cond.threshold)
    assert relaxations(Gates(conditions={condition: relaxed}), waivers, NOW) == []


def test_a_threshold_of_minus_one_never_certifies_zero_tests() -> None:
    metrics = {**passing(), "tests_ran": Metric(0, "no test ran: none collected")}
    results = evaluate(metrics, Gates(conditions={"tests.ran": ConditionOverride(threshold=-1, **APPROVAL)}), [], NOW, (3,))
    assert row(results, "tests.ran")["raw_status"] == "fail" and results[0]["status"] == "fail"


def test_a_port_ownership_failure_takes_no_waiver() -> None:
    metrics = {**passing(), "environment_failed": Metric(2, items=["catalog.port", "cache"])}
    waivers = [Waiver(condition="environment.failed", item="catalog.port", **APPROVAL), Waiver(condition="environment.failed", **APPROVAL)]
    found = row(evaluate(metrics, Gates(), waivers, NOW, (1,)), "environment.failed")
    assert found["status"] == "fail" and "catalog.port" in found["reason"] and found["waivers"] == []


def test_a_waiver_never_covers_the_same_item_of_another_condition() -> None:
    """The `shipping` waiver of a failed check does not cover `shipping` under another condition."""
    metrics = {**passing(), "contracts_pending": Metric(1, items=["shipping"]), "contracts_failed": Metric(1, items=["shipping"])}
    found = evaluate(metrics, Gates(), [Waiver(condition="contracts.pending", item="shipping", **APPROVAL)], NOW, (2,))
    assert row(found, "contracts.pending")["status"] == "pass" and row(found, "contracts.failed")["status"] == "fail"


# --- relaxations need an approval, expire, and are listed --------------------------------------------

def test_a_relaxation_holds_only_with_an_unexpired_approval() -> None:
    metrics = {**passing(), "resolved_without_rerun": Metric(2, items=["DEF-1", "DEF-2"])}
    unapproved = Gates(conditions={"regression.unverified": ConditionOverride(threshold=2)})
    approved = Gates(conditions={"regression.unverified": ConditionOverride(threshold=2, **APPROVAL)})
    expired = Gates(conditions={"regression.unverified": ConditionOverride(threshold=2, **{**APPROVAL, "expires": NOW})})
    assert [evaluate(metrics, g, [], NOW, (3,))[0]["status"] for g in (unapproved, approved, expired)] == ["fail", "pass", "fail"]
    assert relaxations(approved, [], NOW) == [{"condition": "regression.unverified", "change": "threshold 0 -> 2", "justification": "vendor fix due",
                                              "approver": "QA lead", "ticket": "QA-9", "expires": "2026-12-26T00:00:00Z"}]
    assert relaxations(expired, [], NOW) == relaxations(unapproved, [], NOW) == []


def test_an_operator_change_and_blocking_false_are_relaxations() -> None:
    options = Gates(conditions={"defects.open_critical": ConditionOverride(operator="<=", threshold=1, blocking=False, **APPROVAL)})
    [record] = relaxations(options, [], NOW)
    assert record["change"] == "threshold 0 -> 1; operator == -> <=; blocking = false"
    assert policy_problems(Gates(conditions={"defects.open_critical": ConditionOverride(blocking=False)}), [])[0][0] == ("gates", "conditions", "defects.open_critical")


def test_tightening_needs_no_approval() -> None:
    assert policy_problems(Gates(conditions={"regression.summary": ConditionOverride(blocking=True)}), []) == []


# --- config check: file, line, key ---------------------------------------------------------------------

def config_problems(extra: str) -> list[str]:
    with pytest.raises(ConfigError) as refused:
        parse(BASE + extra, Path("interlock.toml"))
    return [str(p) for p in refused.value.problems]


WAIVER_BODY = 'justification = "j"\napprover = "qa"\nticket = "T-1"\nexpires = 2099-01-01T00:00:00Z\n'


@pytest.mark.parametrize("condition", ["signoff.valid", "tests.ran", "tests.filtered", "bundle.problems", "signoff.commit", "tests.consistent"])
def test_config_check_refuses_a_waiver_on_an_integrity_condition(condition: str) -> None:
    text = BASE + f'\n[[waivers]]\ncondition = "{condition}"\n' + WAIVER_BODY
    line = text.splitlines().index(f'condition = "{condition}"') + 1
    [problem] = config_problems(f'\n[[waivers]]\ncondition = "{condition}"\n' + WAIVER_BODY)
    assert problem.startswith(f"interlock.toml:{line} [waivers.0.condition]: {condition} is an integrity condition")


@pytest.mark.parametrize(("condition", "body"), [("signoff.valid", "blocking = false\n"), ("tests.ran", "threshold = -1\n"),
                                                  ("tests.filtered", "threshold = 1\n" + WAIVER_BODY)])
def test_config_check_refuses_an_override_of_an_integrity_condition(condition: str, body: str) -> None:
    text = BASE + f'\n[gates.conditions."{condition}"]\n' + body
    line = text.splitlines().index(f'[gates.conditions."{condition}"]') + 1
    [problem] = config_problems(f'\n[gates.conditions."{condition}"]\n' + body)
    assert problem.startswith(f"interlock.toml:{line} [gates.conditions.{condition}]: {condition} is an integrity condition")


def test_config_check_refuses_unknown_ids_with_did_you_mean() -> None:
    problems = config_problems('\n[gates.conditions."contracts.faild"]\nblocking = true\n\n[[waivers]]\ncondition = "defect.open_critical"\n' + WAIVER_BODY)
    assert any("[gates.conditions.contracts.faild]: unknown gate condition 'contracts.faild'; did you mean 'contracts.failed'?" in p for p in problems)
    assert any("[waivers.0.condition]: unknown gate condition 'defect.open_critical'; did you mean 'defects.open_critical'?" in p for p in problems)


def test_config_check_refuses_the_old_target_key_naming_the_new_ones() -> None:
    [problem] = config_problems('\n[[waivers]]\ntarget = "contracts.failed"\n' + WAIVER_BODY)
    assert "[waivers.0.target]: `target` is no longer read" in problem and "`condition`" in problem and "`item`" in problem


@pytest.mark.parametrize("field", ["approver", "justification", "ticket"])
def test_config_check_refuses_a_waiver_with_an_empty_approval_field(field: str) -> None:
    body = "\n".join(f'{field} = ""' if line.startswith(f"{field} =") else line for line in WAIVER_BODY.splitlines()) + "\n"
    [problem] = config_problems('\n[[waivers]]\ncondition = "contracts.failed"\n' + body)
    assert f"[waivers.0.{field}]: must not be empty" in problem


def test_config_check_refuses_a_relaxation_without_approval_and_a_port_item_waiver() -> None:
    problems = config_problems('\n[gates.conditions."defects.open_critical"]\nthreshold = 3\n\n'
                               '[[waivers]]\ncondition = "environment.failed"\nitem = "catalog.owner"\n' + WAIVER_BODY)
    assert any("[gates.conditions.defects.open_critical]: relaxes defects.open_critical (threshold 0 -> 3): a relaxation needs `approver`" in p for p in problems)
    assert any("[waivers.0.item]: catalog.owner says which process answers on a service's port" in p for p in problems)


def test_an_approved_relaxation_and_an_item_waiver_pass_config_check() -> None:
    config = parse(BASE + '\n[gates.conditions."defects.open_critical"]\nthreshold = 1\n' + WAIVER_BODY
                   + '\n[[waivers]]\ncondition = "contracts.failed"\nitem = "web->catalog: get"\n' + WAIVER_BODY, Path("interlock.toml"))
    assert config.waivers[0].item == "web->catalog: get" and config.gates.conditions["defects.open_critical"].approval() is not None


# --- relaxations are shown: console, HTML report --------------------------------------------------------

RELAXED = {"condition": "regression.unverified", "change": "threshold 0 -> 2", "justification": "rerun rig down", "approver": "QA lead",
           "ticket": "QA-9", "expires": "2026-12-26T00:00:00Z"}


def test_the_console_prints_each_relaxation_under_its_gate() -> None:
    import io

    from rich.console import Console

    from interlock.events import GateEvaluated
    from interlock.gates import relaxed_lines
    from interlock.render import ConsoleRenderer

    document = {"gates": [{"id": 3, "conditions": [{"id": "regression.unverified"}]}, {"id": 2, "conditions": [{"id": "contracts.failed"}]}],
                "policy_relaxed": [RELAXED]}
    assert relaxed_lines(document, document["gates"][1]) == []
    out = io.StringIO()
    ConsoleRenderer(Console(file=out, width=300))(GateEvaluated(3, "Execution Integrity", "pass", [], relaxed_lines(document, document["gates"][0])))
    assert "policy relaxed: regression.unverified: threshold 0 -> 2 (approved by QA lead, ticket QA-9, expires 2026-12-26T00:00:00Z)" in out.getvalue()


def test_the_html_report_lists_the_relaxations(tmp_path: Path) -> None:
    from interlock.report import render
    from tests.sample import write_sample

    folder = write_sample(tmp_path / "run", run_id="run-1", tests=4, started_at=NOW)
    gates_path = folder / "gate-results.json"
    document = json.loads(gates_path.read_text())
    assert "policy relaxed:" not in render(None, folder)
    gates_path.write_text(json.dumps({**document, "policy_relaxed": [RELAXED]}))
    html = render(None, folder)
    assert "policy relaxed: regression.unverified: threshold 0 -&gt; 2 (approved by QA lead, ticket QA-9, expires 2026-12-26T00:00:00Z)" in html


def test_an_artifact_cannot_waive_an_integrity_condition_either() -> None:
    """Only the defect log records waivers, and only for tests.unresolved_failures; on an integrity condition it counts for nothing."""
    record = {"condition": "manifest.uncovered", "item": "x", "justification": "j", "approver": "qa", "ticket": "T", "expires": "2099-01-01T00:00:00Z"}
    found = row(evaluate({**passing(), "manifest_uncovered": Metric(1, items=["x"], waived={"x": record})}, Gates(), [], NOW, (4,)), "manifest.uncovered")
    assert (found["status"], found["waivers"]) == ("fail", [])
    # The same record on a condition that takes waivers covers its item.
    record = {**record, "condition": "regression.unverified"}
    assert row(evaluate({**passing(), "resolved_without_rerun": Metric(1, items=["x"], waived={"x": record})}, Gates(), [], NOW, (3,)),
               "regression.unverified")["status"] == "pass"


def test_triage_makes_a_defect_of_every_contract_status_but_pass_and_pending() -> None:
    from interlock.phases.triage import failures_from

    results = contract_results("pass", "pending", "fail", "FAIL", None, "not_executed")
    for item in results["contracts"][0]["interactions"]:
        item["id"] = f"web->catalog: {item['status']}"
    found = failures_from(None, results, None, "integration")
    assert [f.title for f in found] == ["contract web->catalog: fail fail", "contract web->catalog: FAIL FAIL",
                                        "contract web->catalog: None without a status", "contract web->catalog: not_executed not_executed"]
