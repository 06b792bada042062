"""The report's data: what the HTML shows, as plain JSON-able data built from the artifacts and the history.

`build_model` reads the artifact folder (the run being reported) and asks the
store for the history (runs, trends, flaky checks, the recent outcomes of what
failed now). Big tables are summarised here, so the page stays small for
10,000 tests: tests are listed one by one only up to `ALL_TESTS_LIMIT`, always
summarised per module, and every failure is shown with its details up to
`FAILURE_LIMIT`.
"""

from __future__ import annotations

from collections.abc import Mapping
import json
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interlock.artifacts import TRACE_EVIDENCE
from interlock.runfolder import RunFolder
from interlock.state import gates_not_run
from interlock.statuses import CheckStatus, ContractStatus, GateStatus
from interlock.store.records import (
    ERROR, FAIL, NOT_RUN, PASS, PENDING, SKIP, contract_key, contract_outcome, execution_outcome, duration_of_test, message_of_test,
)

if TYPE_CHECKING:
    from interlock.store import Store

ALL_TESTS_LIMIT = 300
FAILURE_LIMIT = 200
MODULE_LIMIT = 500
MISMATCH_LIMIT = 25
DEFECT_LIMIT = 500
ENV_LIMIT = 500
MATRIX_LIMIT = 2000
CALL_LIMIT = 500
#: The status of a graph edge drawn from traced traffic alone: a call no declared dependency names.
OBSERVED_ONLY = "observed"
FLAKY_LIMIT = 100
RUNS_LISTED = 25
RECENT_RUNS = 20
LONGREPR_LIMIT = 4000
VALUE_LIMIT = 300

KIND_ORDER = ("environment", "dataset", "observability", "schema", "openapi", "asyncapi", "pact", "test")
CONTRACT_FAMILIES = ("pact", "openapi", "asyncapi", "schema")
_WORST = {"error": 5, "fail": 4, "not_run": 3, "pending": 2, "skip": 1, "pass": 0}
_SEVERITY = {"critical": 0, "high": 1, "medium": 2, "low": 3}
_DEFECT_STATUS = {"open": 0, "mitigated": 1, "waived": 2, "resolved": 3}


def _worst(outcomes: list[str]) -> str | None:
    return max(outcomes, key=lambda o: _WORST.get(o, 5)) if outcomes else None


def _short(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= VALUE_LIMIT else text[: VALUE_LIMIT - 1] + "…"


def _family(kind: str) -> str:
    return "pact" if kind.startswith("pact") else kind


# --------------------------------------------------------------------------- sections


def gate_section(gates: Mapping[str, Any] | None, not_run: frozenset[int] = frozenset()) -> list[dict[str, Any]]:
    """The gates as the report shows them; `not_run` are gates a halted run never reached (shown NOT RUN, not FAIL)."""
    if not gates:
        return []
    return [
        {"id": g["id"], "name": g["name"], "status": GateStatus.NOT_RUN.value if g["id"] in not_run else g["status"], "failed": sum(1 for c in g["conditions"] if c["status"] == GateStatus.FAIL),
         "conditions": [{**{k: c[k] for k in ("id", "metric", "operator", "threshold", "actual", "blocking", "raw_status", "status", "artifact", "reason")},
                         "waivers": [f"{w.get('item') or 'whole condition'} · {w.get('approver', '')} · {w.get('ticket', '')} · until {w.get('expires', '')}"
                                     for w in c["waivers"]]}
                        for c in g["conditions"]]}
        for g in gates["gates"]
    ]


def contract_index(contracts: Mapping[str, Any] | None) -> list[tuple[dict[str, Any], dict[str, Any] | None, str]]:
    """(contract, item or None, normalised outcome) for every contract item."""
    out: list[tuple[dict[str, Any], dict[str, Any] | None, str]] = []
    for c in (contracts or {}).get("contracts", []):
        items = c.get("interactions") or []
        if not items:
            out.append((c, None, contract_outcome(c["status"])))
        for i in items:
            out.append((c, i, contract_outcome(i["status"])))
    return out


def calls_section(evidence: Mapping[str, Any] | None) -> dict[str, Any]:
    """The calls the tests' traces crossed (trace-evidence.json), one row per caller, callee, kind and target, with the tests that made it."""
    if evidence is None:
        return {"present": False, "receiver": False, "calls": [], "more": 0, "undeclared": []}
    rows: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for test in evidence["tests"]:
        for call in test["calls"]:
            key = (call["from"] or "", call["to"], call["kind"], call["target"])
            row = rows.setdefault(key, {"from": call["from"] or "", "to": call["to"], "kind": call["kind"], "target": call["target"], "tests": [],
                                        "declared": None})  # graph_section says whether a declared dependency covers it
            if test["nodeid"] not in row["tests"]:
                row["tests"].append(test["nodeid"])
    ordered = sorted(rows.values(), key=lambda c: (c["from"], c["to"], c["kind"], c["target"]))
    for row in ordered:
        row["count"], row["tests"] = len(row["tests"]), row["tests"][:5]
    undeclared = [{"interface": u["interface"], "from": u["from"] or "", "reason": u["reason"], "seen_in": u["seen_in"]} for u in evidence["undeclared"]]
    return {"present": True, "receiver": evidence["receiver"] is not None, "calls": ordered[:CALL_LIMIT],
            "more": max(len(ordered) - CALL_LIMIT, 0), "undeclared": undeclared}


def _pair(call: Mapping[str, Any], declared: set[tuple[str, str]]) -> tuple[str, str]:
    """The dependency a call crosses, as (consumer, provider): a message runs from its producer to the consumer,
    whose declared dependency points the other way (the consumer depends on the producer's messages)."""
    pair = (call["from"], call["to"])
    if call["kind"] == "messaging" and pair not in declared and (call["to"], call["from"]) in declared:
        return call["to"], call["from"]
    return pair


def _observed_pairs(calls: Mapping[str, Any], declared: set[tuple[str, str]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The calls of `calls_section` by the dependency they cross, each marked declared or not; the suite's own
    calls (and a caller no trace named) are left out: they are tests, not dependencies of the system."""
    pairs: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for call in calls["calls"]:
        if call["from"] and call["from"] != call["to"]:
            pair = _pair(call, declared)
            call["declared"] = pair in declared
            pairs[pair].append(call)
    return pairs


def graph_section(scope: Mapping[str, Any] | None, index: list[tuple[dict[str, Any], dict[str, Any] | None, str]],
                  calls: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Nodes and edges of the service dependency graph; each edge's status from the contracts between its two ends.

    With trace evidence, each declared edge says whether traffic crossed it, and a call between services no
    declared dependency names is an edge of its own (status `observed`), so both are seen side by side.
    """
    if not scope:
        return {"nodes": [], "edges": [], "traced": False}
    traced = bool(calls and calls["present"])
    deps = scope["dependencies"]
    declared = {(d["consumer"], d["provider"]) for d in deps}
    observed = _observed_pairs(calls, declared) if calls and traced else {}
    services = {s["name"]: s for s in scope["services"]}
    by_pair: dict[tuple[str, str], list[tuple[dict[str, Any], dict[str, Any] | None, str]]] = defaultdict(list)
    for entry in index:
        by_pair[(entry[0]["consumer"], entry[0]["provider"])].append(entry)
    edges = []
    for d in deps:
        items = by_pair.get((d["consumer"], d["provider"]), [])
        outcomes = [o for _, _, o in items]
        failing = [(c, i) for c, i, o in items if o in (FAIL, ERROR, NOT_RUN)]  # not run is failed, never green
        if failing:
            status: str = FAIL
        elif PASS in outcomes:
            status = PASS
        else:
            status = "unchecked"  # no contract between the two, or only pending items
        edges.append({
            "consumer": d["consumer"], "provider": d["provider"], "via": d["via"], "interfaces": d["interfaces"], "status": status,
            "total": len(items), "passed": outcomes.count(PASS), "failed": len(failing),
            "failing": [i["id"] if i else c["id"] for c, i in failing[:5]],
            "contracts": sorted({c["id"] for c, _, _ in items}),
            "observed": len(observed.get((d["consumer"], d["provider"]), [])) if traced else None,
        })
    known = set(services) | {d["consumer"] for d in deps} | {d["provider"] for d in deps}
    for (caller, callee), found in sorted(observed.items()):
        if caller not in known:
            for call in found:
                call["declared"] = None  # a caller outside the system (a pact verifier, say) is no dependency of it
            continue
        if (caller, callee) in declared:
            continue
        edges.append({"consumer": caller, "provider": callee, "via": ", ".join(sorted({c["kind"] for c in found})),
                      "interfaces": sorted({c["target"] for c in found}), "status": OBSERVED_ONLY, "total": 0, "passed": 0, "failed": 0,
                      "failing": [], "contracts": [], "observed": len(found)})
    names = sorted(known | {e["provider"] for e in edges})
    consumers = {d["consumer"] for d in deps}
    nodes = []
    for name in names:
        if name in services:
            kind = "service"
        elif name in consumers:
            kind = "external"
        else:
            kind = "resource"
        nodes.append({"name": name, "kind": kind, "detail": services.get(name, {}).get("kind") or kind, "owner": services.get(name, {}).get("owner")})
    return {"nodes": nodes, "edges": edges, "traced": traced}


def matrix_section(scope: Mapping[str, Any] | None, index: list[tuple[dict[str, Any], dict[str, Any] | None, str]], tests: dict[str, str]) -> dict[str, Any]:
    """Interfaces × check kinds: how many checks of each kind cover an interface, how they did in this run, and
    the matrix's own traffic mark (observed by whom, not observed, pending, unknown: `scope.mark_traffic` decides it)."""
    if not scope:
        return {"kinds": [], "rows": [], "more": 0, "uncovered": []}
    by_item: dict[str, list[tuple[str, str]]] = defaultdict(list)  # item id → [(family, outcome)]
    for c, i, outcome in index:
        if i is not None:
            by_item[i["id"]].append((_family(c["kind"]), outcome))
    interfaces = scope["interfaces"]
    kinds_seen = {check["kind"] for i in interfaces for check in i["checks"]}
    kinds = [k for k in KIND_ORDER if k in kinds_seen] + sorted(kinds_seen - set(KIND_ORDER))
    rows = []
    for iface in interfaces[:MATRIX_LIMIT]:
        cells: dict[str, dict[str, Any]] = {}
        for kind in kinds:
            refs = [check["ref"] for check in iface["checks"] if check["kind"] == kind]
            if not refs:
                continue
            outcomes: list[str] = []
            if kind == "test":
                outcomes = [tests[r] for r in refs if r in tests]
            elif kind in CONTRACT_FAMILIES:
                for ref in refs:
                    outcomes += [o for fam, o in by_item.get(ref, []) if fam == kind]
                outcomes += [o for fam, o in by_item.get(iface["id"], []) if fam == kind]
            worst = _worst(outcomes)
            cells[kind] = {"count": len(refs), "status": None if worst is None else (PASS if worst in (PASS, SKIP, PENDING) else FAIL), "refs": refs[:8]}
        rows.append({"id": iface["id"], "service": iface["service"], "kind": iface["kind"], "features": iface["features"], "cells": cells, "covered": bool(iface["checks"]),
                     "traffic": iface["traffic"]["status"], "observed_by": iface["traffic"]["by"]})
    return {"kinds": kinds, "rows": rows, "more": max(len(interfaces) - MATRIX_LIMIT, 0), "uncovered": list(scope.get("uncovered", []))}


def environment_section(report: Mapping[str, Any] | None) -> dict[str, Any]:
    if not report:
        return {"present": False, "summary": None, "checks": [], "more": 0}
    checks = sorted(report["checks"], key=lambda c: (c["status"] == CheckStatus.PASS,))
    return {
        "present": True, "status": report["status"], "summary": report["summary"],
        "checks": [{k: c[k] for k in ("id", "kind", "target", "status", "reason", "duration_ms")} for c in checks[:ENV_LIMIT]],
        "more": max(len(checks) - ENV_LIMIT, 0),
    }


def contracts_section(results: Mapping[str, Any] | None) -> dict[str, Any]:
    if not results:
        return {"present": False, "summary": None, "contracts": []}
    out = []
    for c in results["contracts"]:
        items = c.get("interactions") or []
        failures = []
        for i in items:
            if i["status"] == ContractStatus.PASS:
                continue
            mismatches = [{"type": m.get("type", ""), "path": m.get("path") or "", "expected": _short(m.get("expected")), "actual": _short(m.get("actual")), "message": m.get("message", "")}
                          for m in i["mismatches"][:MISMATCH_LIMIT]]
            failures.append({"id": i["id"], "key": contract_key(c["id"], i["id"]), "description": i["description"], "status": i["status"],
                             "provider_states": i["provider_states"], "duration_ms": i["duration_ms"], "mismatches": mismatches,
                             "more": max(len(i["mismatches"]) - MISMATCH_LIMIT, 0)})
        out.append({
            "id": c["id"], "kind": c["kind"], "consumer": c["consumer"], "provider": c["provider"], "source": c["source"], "status": c["status"],
            "duration_ms": c["duration_ms"], "reason": c["reason"], "total": len(items), "passed": sum(1 for i in items if i["status"] == ContractStatus.PASS),
            "failures": failures,
        })
    out.sort(key=lambda c: (c["status"] == ContractStatus.PASS, c["id"]))
    return {"present": True, "status": results["status"], "summary": results["summary"], "contracts": out}


def tests_section(report: Mapping[str, Any] | None) -> dict[str, Any]:
    if not report:
        return {"present": False}
    tests = report.get("tests", [])
    extra = {f["nodeid"]: f for f in (report.get("interlock") or {}).get("failures", [])}
    modules: dict[str, dict[str, Any]] = {}
    failures: list[dict[str, Any]] = []
    listed: list[dict[str, Any]] = []
    for t in tests:
        nodeid = t["nodeid"]
        outcome = execution_outcome(t["outcome"])
        duration = duration_of_test(t) or 0.0
        module = modules.setdefault(nodeid.split("::", 1)[0], {"module": nodeid.split("::", 1)[0], "pass": 0, "fail": 0, "skip": 0, "duration_ms": 0.0})
        module["pass" if outcome == PASS else "skip" if outcome in (SKIP, PENDING) else "fail"] += 1
        module["duration_ms"] += duration
        if len(tests) <= ALL_TESTS_LIMIT:
            listed.append({"nodeid": nodeid, "outcome": outcome, "duration_ms": round(duration, 3)})
        if outcome in (FAIL, ERROR) and len(failures) < FAILURE_LIMIT:
            longrepr = ""
            for phase in ("setup", "call", "teardown"):
                data = t.get(phase)
                if isinstance(data, dict) and data.get("longrepr"):
                    longrepr = str(data["longrepr"])
                    break
            info = extra.get(nodeid, {})
            failures.append({
                "nodeid": nodeid, "outcome": outcome, "message": message_of_test(t, {nodeid: info.get("message", "")}) or "",
                "longrepr": longrepr if len(longrepr) <= LONGREPR_LIMIT else "…" + longrepr[-LONGREPR_LIMIT:],
                "critical": bool(info.get("critical")), "interfaces": info.get("interfaces", (t.get("metadata") or {}).get("interfaces", [])),
                "rerun": info.get("rerun", ""), "duration_ms": round(duration, 3),
            })
    failing_total = sum(m["fail"] for m in modules.values())
    ordered = sorted(modules.values(), key=lambda m: (-m["fail"], m["module"]))
    for m in ordered:
        m["duration_ms"] = round(m["duration_ms"], 3)
    summary = (report.get("interlock") or {}).get("summary") or report.get("summary")
    return {
        "present": True, "total": len(tests), "summary": summary, "exit_code": report.get("exitcode"),
        "modules": ordered[:MODULE_LIMIT], "modules_more": max(len(ordered) - MODULE_LIMIT, 0),
        "failures": failures, "failures_more": max(failing_total - len(failures), 0),
        "all": listed if len(tests) <= ALL_TESTS_LIMIT else None,
    }


def defects_section(rows: list[dict[str, str]]) -> dict[str, Any]:
    ordered = sorted(rows, key=lambda r: (_DEFECT_STATUS.get(r["status"], 9), _SEVERITY.get(r["severity"], 9), r["id"]))
    counts = {s: 0 for s in _DEFECT_STATUS}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    keep = ("id", "source", "title", "severity", "owner", "status", "ticket", "mitigation", "occurrences", "last_seen", "regression", "message", "rerun")
    return {"counts": counts, "total": len(rows), "rows": [{k: r.get(k, "") for k in keep} for r in ordered[:DEFECT_LIMIT]], "more": max(len(rows) - DEFECT_LIMIT, 0)}


def history_section(store: Store | None, environment: str | None, history: int, failing_keys: list[tuple[str, str]]) -> dict[str, Any]:
    if store is None:
        return {"present": False, "runs": [], "trend": [], "flaky": [], "flaky_total": 0, "recent": {}}
    hist = store.history(history, environment=environment, runs_listed=RUNS_LISTED, flaky_limit=FLAKY_LIMIT)
    recent = store.recent_outcomes(failing_keys, runs=RECENT_RUNS, environment=environment) if failing_keys else {}
    return {
        "present": True,
        "runs": [{**asdict(r), "test_pass_rate": r.test_pass_rate, "contract_pass_rate": r.contract_pass_rate, "gates": [list(g) for g in r.gates]} for r in hist.runs],
        "trend": [asdict(p) for p in hist.trend],
        "flaky": [asdict(f) for f in hist.flaky], "flaky_total": hist.flaky_total,
        "recent": {f"{c}\0{k}": v for (c, k), v in recent.items()},
    }


# --------------------------------------------------------------------------- the whole model


def build_model(store: Store | None, artifacts_dir: Path | RunFolder, *, history: int = 200) -> dict[str, Any]:
    """Everything the report shows, as plain data (equal data → identical HTML)."""
    run = RunFolder.load(artifacts_dir)
    read: tuple[Mapping[str, Any] | None, ...] = (run.gates, run.scope, run.env_report, run.contracts, run.tests)
    gates, scope, env_report, contracts, tests = read
    state, defects = run.state, run.defects
    evidence: Mapping[str, Any] | None = run.json(TRACE_EVIDENCE)
    calls = calls_section(evidence)
    index = contract_index(contracts)
    test_outcomes = {t["nodeid"]: execution_outcome(t["outcome"]) for t in (tests or {}).get("tests", [])}
    environment = state.get("environment") or (scope or {}).get("environment") or (env_report or {}).get("environment")
    tests_model = tests_section(tests)
    contracts_model = contracts_section(contracts)
    failing_keys = [("test", f["nodeid"]) for f in tests_model.get("failures", [])]
    failing_keys += [("contract", f["key"]) for c in contracts_model["contracts"] for f in c["failures"]][:FAILURE_LIMIT]
    project = (scope or {}).get("project") or {}
    return {
        "project": project.get("name") or "", "version": project.get("version") or "",
        "environment": environment or "", "run_id": state.get("run_id") or "",
        "started_at": state.get("started_at") or "", "halted_at": state.get("halted_at"),
        "status": (gates or {}).get("status", "unknown"), "gates_at": (gates or {}).get("generated_at", ""),
        "gates": gate_section(gates, gates_not_run(state.get("halted_at"))),
        "policy_relaxed": [f"{r['condition']}: {r['change']} (approved by {r['approver']}, ticket {r['ticket']}, expires {r['expires']}): {r['justification']}"
                           for r in (gates or {}).get("policy_relaxed", [])],
        "graph": graph_section(scope, index, calls),
        "matrix": matrix_section(scope, index, test_outcomes),
        "calls": calls,
        "environment_checks": environment_section(env_report),
        "contracts": contracts_model,
        "tests": tests_model,
        "defects": defects_section(defects),
        "history": history_section(store, environment or None, history, failing_keys),
    }
