"""The four quality gates, as data: conditions evaluated over metrics read from artifacts.

`evaluate` is pure: metrics in, gate results out. Metrics are read from the
artifact folder alone (`metrics.read_metrics`), so `interlock gates` on a copied
folder gives the same answer as the run that made it. A metric that could not
be read (its artifact is missing, so its step did not run) fails its condition:
no evidence is never a pass.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from interlock.config import Gates, Waiver
from interlock.events import PHASE_NAMES

OPERATORS = {"==": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


@dataclass(frozen=True)
class Condition:
    """One gate condition: `metric operator threshold`, blocking or a warning."""

    id: str
    gate: int
    metric: str
    operator: str
    threshold: float
    artifact: str
    blocking: bool = True
    description: str = ""


_SCOPE, _ENV, _DATA = "integration-scope-matrix.json", "environment-validation-report.json", "test-data-inventory.md"
_CONTRACTS, _OBS = "contract-validation-results.json", "observability-readiness.md"
_TESTS, _DEFECTS, _REGRESS = "test-execution-report.json", "defect-log.csv", "regression-summary.md"
_MANIFEST, _SIGNOFF, _RECS = "integration-evidence-manifest.json", "integration-signoff.json", "forward-recommendations.md"
_LEDGER = "run-ledger.jsonl"

DEFAULT_CONDITIONS: tuple[Condition, ...] = (
    Condition("scope.prerequisites_unmet", 1, "prerequisites_unmet", "==", 0, _SCOPE, description="every prerequisite exists at its declared version/hash"),
    Condition("scope.interfaces", 1, "interfaces", ">", 0, _SCOPE, description="the scope matrix is not empty"),
    Condition("environment.checks", 1, "environment_checks", ">", 0, _ENV, description="the environment was really checked"),
    Condition("environment.failed", 1, "environment_failed", "==", 0, _ENV, description="every environment check passed"),
    Condition("environment.unprobed", 1, "environment_unprobed", "==", 0, _ENV, description="every declared service, store and broker has a probe result"),
    Condition("data.inventory", 1, "data_inventory", "==", 1, _DATA, blocking=False, description="test data inventory written"),
    Condition("contracts.total", 2, "contract_interactions", ">", 0, _CONTRACTS, description="at least one contract interaction exists"),
    Condition("contracts.not_executed", 2, "contracts_not_executed", "==", 0, _CONTRACTS, description="every contract executed"),
    Condition("contracts.failed", 2, "contracts_failed", "==", 0, _CONTRACTS, description="100% pass or approved mitigations"),
    Condition("contracts.pending", 2, "contracts_pending", "==", 0, _CONTRACTS, blocking=False, description="pending pacts are not passes"),
    Condition("contracts.filtered", 2, "contracts_filtered", "==", 0, _CONTRACTS, description="the results are of a complete run, not a filtered rerun (--only)"),
    Condition("observability.unrecorded", 2, "observability_unrecorded", "==", 0, _OBS, description="readiness recorded for every service"),
    Condition("scope.uncovered", 2, "uncovered_interfaces", "==", 0, _SCOPE, description="every interface has at least one check"),
    Condition("tests.ran", 3, "tests_ran", ">", 0, _TESTS, description="the suite ran at least one test (0 collected or all skipped fails)"),
    Condition("tests.filtered", 3, "tests_filtered", "==", 0, _TESTS, description="the report covers the whole suite (not a targeted, partial or single-shard run)"),
    Condition("defects.open_critical", 3, "open_critical_defects", "==", 0, _DEFECTS, description="no critical defect left unresolved or unwaived"),
    Condition("regression.unverified", 3, "resolved_without_rerun", "==", 0, _DEFECTS, description="every resolved defect has a passing rerun"),
    Condition("regression.summary", 3, "regression_summary", "==", 1, _REGRESS, blocking=False, description="regression spot-checks recorded"),
    Condition("manifest.uncovered", 4, "manifest_uncovered", "==", 0, _MANIFEST, description="the manifest covers every artifact with matching hashes"),
    Condition("bundle.problems", 4, "bundle_problems", "==", 0, "INTEGRATION-EVIDENCE.zip", description="the bundle was sealed (no secret left in the evidence) and verifies"),
    Condition("recommendations.written", 4, "recommendations", "==", 1, _RECS, description="forward recommendations written"),
    Condition("signoff.valid", 4, "signoff_valid", "==", 1, _SIGNOFF, description="a valid approver signature over this manifest"),
    Condition("signoff.commit", 4, "commit_mismatches", "==", 0, _SIGNOFF, description="the sign-off names the git commit the evidence was produced from, and every record of the run agrees"),
    Condition("ledger.unproduced", 4, "unproduced_artifacts", "==", 0, _LEDGER, description="every artifact's content was written by a step or an interlock command (run ledger)"),
    Condition("evidence.identity", 4, "identity_mismatches", "==", 0, _LEDGER, description="every artifact was produced on the same code: commit, dirty flag and digest of the changes"),
)


@dataclass
class Metric:
    """A metric's value, or why it has none; `items` are the things it counts (for waivers)."""

    value: float | None
    reason: str | None = None
    items: list[str] = field(default_factory=list)


def conditions(options: Gates) -> list[Condition]:
    """The default conditions with the config's overrides applied."""
    result = []
    for cond in DEFAULT_CONDITIONS:
        override = options.conditions.get(cond.id)
        if cond.id == "scope.uncovered":
            cond = replace(cond, blocking=options.uncovered_interfaces == "fail")
        if override is not None:
            cond = replace(
                cond,
                threshold=cond.threshold if override.threshold is None else override.threshold,
                blocking=cond.blocking if override.blocking is None else override.blocking,
            )
        result.append(cond)
    return result


def active_waivers(waivers: list[Waiver], now: datetime) -> dict[str, Waiver]:
    """Waivers by target; an expired waiver counts as absent."""
    return {w.target: w for w in waivers if w.expires > now}


def _waiver_record(waiver: Waiver) -> dict[str, Any]:
    return {
        "target": waiver.target,
        "justification": waiver.justification,
        "approver": waiver.approver,
        "ticket": waiver.ticket,
        "expires": waiver.expires.isoformat().replace("+00:00", "Z"),
    }


def _evaluate_condition(cond: Condition, metric: Metric, waivers: dict[str, Waiver]) -> dict[str, Any]:
    used: list[dict[str, Any]] = []
    value = metric.value
    if value is not None and metric.items:
        # Item-level mitigations (a failing interaction, a defect) take the item out of the count.
        covered = [item for item in metric.items if item in waivers]
        used = [_waiver_record(waivers[item]) for item in covered]
        value = value - len(covered)
    raw_ok = metric.value is not None and OPERATORS[cond.operator](metric.value, cond.threshold)
    ok = value is not None and OPERATORS[cond.operator](value, cond.threshold)
    if not ok and cond.id in waivers:
        ok = True
        used.append(_waiver_record(waivers[cond.id]))
    status = "pass" if ok else ("fail" if cond.blocking else "warn")
    reason = metric.reason
    if not ok and reason is None:
        reason = f"{cond.metric} is {_fmt(metric.value)}, needs {cond.operator} {_fmt(cond.threshold)}"
        if metric.items:
            reason += ": " + ", ".join(i for i in metric.items if i not in waivers)[:500]
    return {
        "id": cond.id,
        "metric": cond.metric,
        "operator": cond.operator,
        "threshold": cond.threshold,
        "actual": metric.value,
        "blocking": cond.blocking,
        "raw_status": "pass" if raw_ok else "fail",
        "status": status,
        "artifact": cond.artifact,
        "reason": None if ok and not used else reason,
        "waivers": used,
    }


def _fmt(value: float | None) -> str:
    if value is None:
        return "unknown"
    return str(int(value)) if float(value).is_integer() else str(value)


def evaluate(metrics: dict[str, Metric], options: Gates, waivers: list[Waiver], now: datetime, gates: tuple[int, ...] = (1, 2, 3, 4)) -> list[dict[str, Any]]:
    """Evaluate the asked-for gates from metrics: pure, data in and data out."""
    active = active_waivers(waivers, now)
    results = []
    for gate in gates:
        rows = [
            _evaluate_condition(c, metrics.get(c.metric, Metric(None, f"metric {c.metric} not available")), active)
            for c in conditions(options)
            if c.gate == gate
        ]
        status = "fail" if any(r["status"] == "fail" for r in rows) else "pass"
        results.append({"id": gate, "name": PHASE_NAMES[gate], "status": status, "conditions": rows})
    return results


def failures(gate: dict[str, Any]) -> list[str]:
    """One line per failed blocking condition, for the console."""
    return [f"{c['id']}: {c['reason']}" for c in gate["conditions"] if c["status"] == "fail"]
