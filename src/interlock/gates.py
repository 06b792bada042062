"""The four quality gates, as data: conditions evaluated over metrics read from artifacts.

`evaluate` is pure: metrics in, gate results out. Metrics are read from the
artifact folder alone (`metrics.read_metrics`), so `interlock gates` on a copied
folder gives the same answer as the run that made it. A metric that could not
be read (its artifact is missing, so its step did not run) fails its condition:
no evidence is never a pass. Inside a run, a phase-end evaluation passes
`decided_through` (the phase just finished): a condition whose artifact a step
of a later phase writes is then `pending`, shown and not deciding its gate's
line; every other evaluation (no `decided_through`) decides it fail-closed.

The policy is fixed where evidence is concerned: the `INTEGRITY` conditions
(the evidence exists, is whole, unfiltered, of one commit, sealed and signed)
take no waiver and no override, whatever the config says. Any other relaxation
(a threshold, an operator, `blocking = false`, a waiver of a whole condition)
holds only with an unexpired approval and is reported as `policy_relaxed`.
"""

from __future__ import annotations

from interlock.statuses import GateStatus

import difflib
import operator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from interlock.artifacts import (
    BY_FILENAME, BUNDLE, CONTRACT_RESULTS, DEFECT_LOG, ENVIRONMENT_REPORT, EXECUTION_REPORT, MANIFEST, OBSERVABILITY, OBSERVABILITY_DATA,
    RECOMMENDATIONS, REGRESSION_SUMMARY, RUN_LEDGER, SCOPE_MATRIX, SIGNOFF, TEST_DATA_INVENTORY, TRACE_EVIDENCE,
)
from interlock.policy import Approval, ConditionOverride, Gates, Waiver
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


_SCOPE, _ENV, _DATA = SCOPE_MATRIX.filename, ENVIRONMENT_REPORT.filename, TEST_DATA_INVENTORY.filename
_CONTRACTS, _OBS = CONTRACT_RESULTS.filename, OBSERVABILITY.filename
_TESTS, _DEFECTS, _REGRESS = EXECUTION_REPORT.filename, DEFECT_LOG.filename, REGRESSION_SUMMARY.filename
_MANIFEST, _SIGNOFF, _RECS = MANIFEST.filename, SIGNOFF.filename, RECOMMENDATIONS.filename
_LEDGER = RUN_LEDGER.filename
_READINESS, _TRACES = OBSERVABILITY_DATA.filename, TRACE_EVIDENCE.filename
#: The condition `[observability] undeclared` makes blocking ("fail") or leaves a warning ("report", the default).
UNDECLARED = "observability.undeclared_dependencies"
Undeclared = Literal["report", "fail"]

DEFAULT_CONDITIONS: tuple[Condition, ...] = (
    Condition("scope.prerequisites_unmet", 1, "prerequisites_unmet", "==", 0, _SCOPE, description="every prerequisite exists at its declared version/hash"),
    Condition("scope.interfaces", 1, "interfaces", ">", 0, _SCOPE, description="the scope matrix is not empty"),
    Condition("scope.undeclared_pacts", 1, "undeclared_pacts", "==", 0, _SCOPE, description="every pact file in the architecture contracts is declared by a [contracts.pact] source or excluded"),
    Condition("scope.unmatched_pact_interfaces", 1, "unmatched_pact_interfaces", "==", 0, _SCOPE,
              description="every HTTP interface a pact exercises matches a feature of the feature list or a [scope] out_of_scope entry"),
    Condition("environment.checks", 1, "environment_checks", ">", 0, _ENV, description="the environment was really checked"),
    Condition("environment.failed", 1, "environment_failed", "==", 0, _ENV, description="every environment check passed"),
    Condition("environment.unprobed", 1, "environment_unprobed", "==", 0, _ENV, description="every declared service, store and broker has a probe result"),
    Condition("data.inventory", 1, "data_inventory", "==", 1, _DATA, blocking=False, description="test data inventory written"),
    Condition("contracts.total", 2, "contract_interactions", ">", 0, _CONTRACTS, description="at least one contract interaction exists"),
    Condition("contracts.not_executed", 2, "contracts_not_executed", "==", 0, _CONTRACTS, description="every contract executed"),
    Condition("contracts.failed", 2, "contracts_failed", "==", 0, _CONTRACTS, description="100% pass or approved mitigations"),
    Condition("contracts.passed", 2, "contracts_passed", ">", 0, _CONTRACTS, description="at least one contract interaction passed (pending, unknown or missing statuses are not passes)"),
    Condition("contracts.pending", 2, "contracts_pending", "==", 0, _CONTRACTS, blocking=False, description="pending pacts are not passes"),
    Condition("contracts.filtered", 2, "contracts_filtered", "==", 0, _CONTRACTS, description="the results are of a complete run, not a filtered rerun (--only)"),
    Condition("observability.unrecorded", 2, "observability_unrecorded", "==", 0, _OBS, description="readiness recorded for every service"),
    Condition("observability.traces_required_missing", 2, "traces_required_missing", "==", 0, _READINESS,
              description='every service with traces = "required" sent at least one span to the OTLP receiver'),
    Condition("observability.metrics_missing", 2, "metrics_missing", "==", 0, _READINESS,
              description="every required metric name ([services.NAME] metrics) is in its service's Prometheus scrape"),
    Condition(UNDECLARED, 2, "undeclared_dependencies", "==", 0, _TRACES, blocking=False,
              description='no interface called in traced traffic without a contract or test declaring it (blocking with [observability] undeclared = "fail")'),
    Condition("scope.uncovered", 2, "uncovered_interfaces", "==", 0, _SCOPE, description="every interface has at least one check"),
    Condition("tests.ran", 3, "tests_ran", ">", 0, _TESTS, description="the suite ran at least one test (0 collected or all skipped fails)"),
    Condition("tests.filtered", 3, "tests_filtered", "==", 0, _TESTS, description="the report covers the whole suite (not a targeted, partial or single-shard run)"),
    Condition("tests.consistent", 3, "tests_disagreement", "==", 0, _TESTS, description="interlock's summary agrees with pytest's own per-test records"),
    Condition("tests.critical_not_run", 3, "critical_not_run", "==", 0, _TESTS, description="every @critical test of the suite ran (none skipped, deselected or missing)"),
    Condition("tests.unresolved_failures", 3, "unresolved_test_failures", "==", 0, _TESTS,
              description="no failed or errored test left without a resolved defect (passing rerun) or an approved waiver; severity never turns a red test green"),
    Condition("defects.open_critical", 3, "open_critical_defects", "==", 0, _DEFECTS, description="no critical defect left unresolved or unwaived"),
    Condition("regression.unverified", 3, "resolved_without_rerun", "==", 0, _DEFECTS, description="every resolved defect has a passing rerun"),
    Condition("regression.summary", 3, "regression_summary", "==", 1, _REGRESS, blocking=False, description="regression spot-checks recorded"),
    Condition("manifest.uncovered", 4, "manifest_uncovered", "==", 0, _MANIFEST, description="the manifest covers every artifact with matching hashes"),
    Condition("bundle.problems", 4, "bundle_problems", "==", 0, BUNDLE.filename, description="the bundle was sealed (no secret left in the evidence) and verifies"),
    Condition("recommendations.written", 4, "recommendations", "==", 1, _RECS, description="forward recommendations written"),
    Condition("signoff.valid", 4, "signoff_valid", "==", 1, _SIGNOFF, description="a valid approver signature over this manifest"),
    Condition("signoff.commit", 4, "commit_mismatches", "==", 0, _SIGNOFF, description="the sign-off names the git commit the evidence was produced from, and every record of the run agrees"),
    Condition("ledger.unproduced", 4, "unproduced_artifacts", "==", 0, _LEDGER, description="every artifact's content was written by a step or an interlock command (run ledger)"),
    Condition("evidence.identity", 4, "identity_mismatches", "==", 0, _LEDGER, description="every artifact was produced on the same code: commit, dirty flag and digest of the changes"),
)


def defaults(undeclared: Undeclared = "report") -> tuple[Condition, ...]:
    """The default conditions under the config's `[observability] undeclared`: "fail" makes undeclared dependencies
    blocking by default, so a `blocking = false` override of it is then a relaxation that needs an approval."""
    if undeclared == "report":
        return DEFAULT_CONDITIONS
    return tuple(replace(c, blocking=True) if c.id == UNDECLARED else c for c in DEFAULT_CONDITIONS)


#: Conditions that say whether the evidence exists and is whole: no waiver, no override, no `blocking = false`.
#: Ids not (yet) among DEFAULT_CONDITIONS are listed too, so a config can never relax them either.
INTEGRITY: frozenset[str] = frozenset({
    "environment.checks", "environment.unprobed", "contracts.total", "contracts.not_executed",
    "contracts.filtered", "contracts.passed", "tests.ran", "tests.filtered", "tests.consistent",
    "tests.critical_not_run", "manifest.uncovered", "bundle.problems", "signoff.valid", "signoff.commit",
    "ledger.unproduced", "evidence.identity", "scope.undeclared_pacts",
})
#: Environment check ids ending so say which process answers on a service's port: never waived item by item.
PORT_OWNERSHIP_SUFFIXES = (".owner", ".port")


def item_waivable(condition_id: str, item: str) -> bool:
    """Whether an item of a condition may be covered by a waiver (a foreign process on a service's port may not)."""
    return not (condition_id.startswith("environment.") and item.endswith(PORT_OWNERSHIP_SUFFIXES))


@dataclass
class Metric:
    """A metric's value, or why it has none; `items` are the things it counts (for waivers)."""

    value: float | None
    reason: str | None = None
    items: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # how an item reads in a reason, e.g. a defect id with its test
    waived: dict[str, dict[str, Any]] = field(default_factory=dict)  # items an artifact records as waived (the defect log), with the waiver


def _override(options: Gates, cond: Condition) -> ConditionOverride | None:
    """The config's override of one condition; `uncovered_interfaces = "warn"` is `blocking = false` on scope.uncovered."""
    override = options.conditions.get(cond.id)
    if cond.id == "scope.uncovered" and options.uncovered_interfaces == "warn":
        override = (override or ConditionOverride()).model_copy(update={"blocking": False})
    return override


def relaxing_changes(cond: Condition, override: ConditionOverride) -> list[str]:
    """What an override changes of a default, each change as people read it; tightening a warning into a block is not one."""
    changes = []
    if override.threshold is not None and override.threshold != cond.threshold:
        changes.append(f"threshold {_fmt(cond.threshold)} -> {_fmt(override.threshold)}")
    if override.operator is not None and override.operator != cond.operator:
        changes.append(f"operator {cond.operator} -> {override.operator}")
    if override.blocking is False and cond.blocking:
        changes.append("blocking = false")
    return changes


def _holds(cond: Condition, override: ConditionOverride, now: datetime) -> bool:
    """An override applies unless it relaxes an integrity condition or relaxes without an unexpired approval."""
    if cond.id in INTEGRITY:
        return False
    if not relaxing_changes(cond, override):
        return True
    approval = override.approval()
    return approval is not None and approval.expires > now


def conditions(options: Gates, now: datetime, undeclared: Undeclared = "report") -> list[Condition]:
    """The default conditions with the config's overrides that hold at `now` (an expired relaxation lets the default hold)."""
    result = []
    for cond in defaults(undeclared):
        override = _override(options, cond)
        if override is not None and _holds(cond, override, now):
            cond = replace(
                cond,
                threshold=cond.threshold if override.threshold is None else override.threshold,
                operator=cond.operator if override.operator is None else override.operator,
                blocking=cond.blocking if override.blocking is None else override.blocking,
            )
        result.append(cond)
    return result


def active_waivers(waivers: list[Waiver], now: datetime) -> list[Waiver]:
    """The waivers that count at `now`: unexpired, not on an integrity condition, not on a port-ownership item."""
    return [w for w in waivers if w.expires > now and w.condition not in INTEGRITY and (w.item is None or item_waivable(w.condition, w.item))]


def _stamp(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def approval_record(condition: str, approval: Approval, **extra: Any) -> dict[str, Any]:
    """An approval as artifacts and the signed predicate carry it."""
    return {"condition": condition, **extra, "justification": approval.justification, "approver": approval.approver,
            "ticket": approval.ticket, "expires": _stamp(approval.expires)}


def waiver_record(waiver: Waiver) -> dict[str, Any]:
    """A waiver in the shape gate-results.json and the sign-off predicate carry: {condition, item, justification, ...}."""
    return approval_record(waiver.condition, waiver, item=waiver.item)


def relaxations(options: Gates, waivers: list[Waiver], now: datetime, gates: tuple[int, ...] = (1, 2, 3, 4),
                undeclared: Undeclared = "report") -> list[dict[str, Any]]:
    """Every relaxation of the default policy in force at `now`: approved overrides, and waivers of a whole condition."""
    found = []
    for cond in defaults(undeclared):
        override = _override(options, cond)
        if cond.gate not in gates or override is None or not _holds(cond, override, now):
            continue
        changes, approval = relaxing_changes(cond, override), override.approval()
        if changes and approval is not None:
            found.append(approval_record(cond.id, approval, change="; ".join(changes)))
    in_gates = {c.id for c in DEFAULT_CONDITIONS if c.gate in gates}
    for waiver in active_waivers(waivers, now):
        if waiver.item is None and waiver.condition in in_gates:
            found.append(approval_record(waiver.condition, waiver, change="waived (the whole condition)"))
    return found


def policy_problems(options: Gates, waivers: list[Waiver], undeclared: Undeclared = "report") -> list[tuple[tuple[str | int, ...], str]]:
    """What `config check` refuses in the gate policy: (key path, message) for each problem."""
    known = {c.id: c for c in DEFAULT_CONDITIONS}
    problems: list[tuple[tuple[str | int, ...], str]] = []

    def unknown(cid: str) -> str:
        close = difflib.get_close_matches(cid, list(known), n=1)
        return f"unknown gate condition {cid!r}; " + (f"did you mean {close[0]!r}?" if close else "`interlock gates` lists the condition ids")

    for cid in options.conditions:
        loc: tuple[str | int, ...] = ("gates", "conditions", cid)
        if cid in INTEGRITY:
            problems.append((loc, f"{cid} is an integrity condition (the evidence exists, is whole, unfiltered, of one commit, sealed and signed): "
                                  "it takes no threshold, operator or blocking override; remove this table and fix the evidence instead"))
        elif cid not in known:
            problems.append((loc, unknown(cid)))
    for cond in defaults(undeclared):
        override = _override(options, cond)
        if cond.id in INTEGRITY or override is None:
            continue
        changes = relaxing_changes(cond, override)
        if changes and override.approval() is None:
            problems.append((("gates", "conditions", cond.id), f"relaxes {cond.id} ({'; '.join(changes)}): a relaxation needs `approver`, "
                                                               "`justification`, `ticket` and `expires` (UTC) like a waiver; add them or remove the change"))
    for n, waiver in enumerate(waivers):
        if waiver.condition in INTEGRITY:
            problems.append((("waivers", n, "condition"), f"{waiver.condition} is an integrity condition: evidence that is missing, partial, "
                                                         "unsealed or unsigned cannot be waived; remove this waiver and fix the evidence"))
        elif waiver.condition not in known:
            problems.append((("waivers", n, "condition"), unknown(waiver.condition)))
        elif waiver.item is not None and not item_waivable(waiver.condition, waiver.item):
            problems.append((("waivers", n, "item"), f"{waiver.item} says which process answers on a service's port: a foreign process "
                                                    "cannot be waived; stop it or give the service another port"))
    return problems


def _evaluate_condition(cond: Condition, metric: Metric, waivers: list[Waiver]) -> dict[str, Any]:
    """One condition's row; only waivers of this very condition count (and of its items, by name)."""
    integrity = cond.id in INTEGRITY
    mine = [] if integrity else [w for w in waivers if w.condition == cond.id]
    recorded = {} if integrity else metric.waived
    by_item = {w.item: w for w in mine if w.item is not None}
    whole = next((w for w in mine if w.item is None), None)
    used: list[dict[str, Any]] = []
    value = metric.value
    left = list(metric.items)
    if value is not None and metric.items:
        # Item-level mitigations (a failing interaction, a defect) take the item out of the count.
        covered = [item for item in metric.items if item in by_item or item in recorded]
        used = [waiver_record(by_item[item]) if item in by_item else recorded[item] for item in covered]
        left = [item for item in metric.items if item not in covered]
        value = value - len(covered)
    raw_ok = metric.value is not None and OPERATORS[cond.operator](metric.value, cond.threshold)
    ok = value is not None and OPERATORS[cond.operator](value, cond.threshold)
    if not ok and whole is not None and all(item_waivable(cond.id, item) for item in left):
        ok = True
        used.append(waiver_record(whole))
    status = GateStatus.PASS if ok else (GateStatus.FAIL if cond.blocking else GateStatus.WARN)
    reason = metric.reason
    if not ok and reason is None:
        reason = f"{cond.metric} is {_fmt(metric.value)}, needs {cond.operator} {_fmt(cond.threshold)}"
        if left:
            reason += ": " + ", ".join(metric.labels.get(item, item) for item in left)[:500]
    return {
        "id": cond.id,
        "metric": cond.metric,
        "operator": cond.operator,
        "threshold": cond.threshold,
        "actual": metric.value,
        "blocking": cond.blocking,
        "raw_status": GateStatus.PASS if raw_ok else GateStatus.FAIL,
        "status": status,
        "artifact": cond.artifact,
        "reason": None if ok and not used else reason,
        "waivers": used,
    }


def producing_phase(cond: Condition) -> int | None:
    """The phase whose step writes the condition's artifact (catalogue `step` "3.1" -> 3); None for an artifact no
    numbered step writes (the ledger, every step's), which is therefore never pending."""
    entry = BY_FILENAME.get(cond.artifact)
    head = entry.step.partition(".")[0] if entry is not None else ""
    return int(head) if head.isdigit() else None


def _pending_row(cond: Condition) -> dict[str, Any]:
    """A condition not yet decidable: its artifact is written by a step of a later phase than the one just finished."""
    entry = BY_FILENAME[cond.artifact]
    return {
        "id": cond.id, "metric": cond.metric, "operator": cond.operator, "threshold": cond.threshold, "actual": None,
        "blocking": cond.blocking, "raw_status": GateStatus.PENDING, "status": GateStatus.PENDING, "artifact": cond.artifact,
        "reason": f"pending: decided after step {entry.step} writes {cond.artifact}", "waivers": [],
    }


def _fmt(value: float | None) -> str:
    if value is None:
        return "unknown"
    return str(int(value)) if float(value).is_integer() else str(value)


def evaluate(metrics: dict[str, Metric], options: Gates, waivers: list[Waiver], now: datetime, gates: tuple[int, ...] = (1, 2, 3, 4),
             undeclared: Undeclared = "report", decided_through: int | None = None) -> list[dict[str, Any]]:
    """Evaluate the asked-for gates from metrics: pure, data in and data out.

    `decided_through` (a phase-end evaluation inside a run) makes a condition whose artifact a later phase writes
    `pending`: it does not decide its gate's status. None (a final or standalone evaluation) decides every condition.
    """
    active = active_waivers(waivers, now)
    current = conditions(options, now, undeclared)
    results = []
    for gate in gates:
        rows = [
            _pending_row(c) if decided_through is not None and (producing_phase(c) or 0) > decided_through
            else _evaluate_condition(c, metrics.get(c.metric, Metric(None, f"metric {c.metric} not available")), active)
            for c in current
            if c.gate == gate
        ]
        status = GateStatus.FAIL if any(r["status"] == GateStatus.FAIL for r in rows) else GateStatus.PASS
        results.append({"id": gate, "name": PHASE_NAMES[gate], "status": status, "conditions": rows})
    return results


def failures(gate: dict[str, Any]) -> list[str]:
    """One line per failed blocking condition, for the console."""
    return [f"{c['id']}: {c['reason']}" for c in gate["conditions"] if c["status"] == GateStatus.FAIL]


def pending(gate: dict[str, Any]) -> list[str]:
    """One line per condition a later phase's evidence decides, for the console of a phase-end gate line."""
    return [f"{c['id']}: {c['reason']}" for c in gate["conditions"] if c["status"] == GateStatus.PENDING]


def relaxed_lines(document: dict[str, Any], gate: dict[str, Any]) -> list[str]:
    """One `policy relaxed: ...` line per relaxation in force on this gate's conditions, for the console."""
    mine = {c["id"] for c in gate["conditions"]}
    return [f"policy relaxed: {r['condition']}: {r['change']} (approved by {r['approver']}, ticket {r['ticket']}, expires {r['expires']})"
            for r in document.get("policy_relaxed", []) if r["condition"] in mine]
