"""Gates are pure functions of metrics: no evidence is never a pass; waivers are counted, not hidden."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from interlock.policy import ConditionOverride, Gates, Waiver
from interlock.gates import DEFAULT_CONDITIONS, Metric, evaluate, relaxations

NOW = datetime(2026, 11, 26, tzinfo=timezone.utc)


def passing() -> dict[str, Metric]:
    values = {c.metric: (1 if c.operator in (">", "==") and c.threshold >= 1 or c.operator == ">" else 0) for c in DEFAULT_CONDITIONS}
    for c in DEFAULT_CONDITIONS:
        values[c.metric] = c.threshold + 1 if c.operator == ">" else c.threshold
    return {k: Metric(v) for k, v in values.items()}


def gate(results: list[dict], number: int) -> dict:
    return next(g for g in results if g["id"] == number)


def test_all_defaults_pass_with_good_metrics() -> None:
    results = evaluate(passing(), Gates(), [], NOW)
    assert [g["status"] for g in results] == ["pass"] * 4


def test_missing_metric_fails_with_reason() -> None:
    metrics = passing()
    metrics["tests_ran"] = Metric(None, "test-execution-report.json is missing: its step did not run")
    g3 = gate(evaluate(metrics, Gates(), [], NOW), 3)
    row = next(c for c in g3["conditions"] if c["id"] == "tests.ran")
    assert g3["status"] == "fail" and row["status"] == "fail" and "missing" in row["reason"]


def test_zero_tests_fails_gate_3() -> None:
    metrics = passing()
    metrics["tests_ran"] = Metric(0, "no test ran: none collected")
    assert gate(evaluate(metrics, Gates(), [], NOW), 3)["status"] == "fail"


def test_item_waiver_covers_failed_interaction_and_is_named() -> None:
    metrics = passing()
    metrics["contracts_failed"] = Metric(1, items=["web->orders: create"])
    waiver = Waiver(condition="contracts.failed", item="web->orders: create", justification="pending provider fix", approver="qa", ticket="T-9",
                    expires=NOW + timedelta(days=3))
    row = next(c for c in gate(evaluate(metrics, Gates(), [waiver], NOW), 2)["conditions"] if c["id"] == "contracts.failed")
    assert row["raw_status"] == "fail" and row["status"] == "pass"
    assert row["waivers"] == [{"condition": "contracts.failed", "item": "web->orders: create", "justification": "pending provider fix",
                               "approver": "qa", "ticket": "T-9", "expires": "2026-11-29T00:00:00Z"}]


def test_expired_waiver_counts_as_absent() -> None:
    metrics = passing()
    metrics["contracts_failed"] = Metric(1, items=["web->orders: create"])
    waiver = Waiver(condition="contracts.failed", item="web->orders: create", justification="j", approver="qa", ticket="T-9", expires=NOW - timedelta(seconds=1))
    assert gate(evaluate(metrics, Gates(), [waiver], NOW), 2)["status"] == "fail"


def test_uncovered_interfaces_configurable() -> None:
    metrics = passing()
    metrics["uncovered_interfaces"] = Metric(2, items=["a:GET /", "b:GET /"])
    assert gate(evaluate(metrics, Gates(), [], NOW), 2)["status"] == "fail"
    # "warn" is `blocking = false` on scope.uncovered: a relaxation, so it holds only with an unexpired approval.
    assert gate(evaluate(metrics, Gates(uncovered_interfaces="warn"), [], NOW), 2)["status"] == "fail"
    approval = {"approver": "qa", "justification": "GraphQL checks next sprint", "ticket": "T-3", "expires": NOW + timedelta(days=1)}
    options = Gates(uncovered_interfaces="warn", conditions={"scope.uncovered": ConditionOverride(**approval)})
    warn = gate(evaluate(metrics, options, [], NOW), 2)
    assert warn["status"] == "pass"
    assert next(c for c in warn["conditions"] if c["id"] == "scope.uncovered")["status"] == "warn"
    assert [(r["condition"], r["change"]) for r in relaxations(options, [], NOW)] == [("scope.uncovered", "blocking = false")]


def test_condition_waiver_keeps_raw_status() -> None:
    metrics = passing()
    metrics["environment_failed"] = Metric(1, items=["cache"])
    waiver = Waiver(condition="environment.failed", justification="j", approver="qa", ticket="T", expires=NOW + timedelta(days=1))
    row = next(c for c in gate(evaluate(metrics, Gates(), [waiver], NOW), 1)["conditions"] if c["id"] == "environment.failed")
    assert (row["raw_status"], row["status"]) == ("fail", "pass")
    assert [(r["condition"], r["change"]) for r in relaxations(Gates(), [waiver], NOW)] == [("environment.failed", "waived (the whole condition)")]
