"""Synthetic, schema-valid runs shaped like the demo shop: for tests, the benchmark and previewing the report.

`write_sample` writes an artifact folder (every JSON through `ArtifactDir`,
so each is checked against its schema) with any number of tests, an optional
broken contract and failing tests. `sample_history` writes many runs straight
into a store as `RunRecord`s (no files), deterministic for a seed.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from interlock.artifacts import CONTRACT_RESULTS, DEFECT_LOG, ENVIRONMENT_REPORT, EXECUTION_REPORT, SCOPE_MATRIX, SIGNOFF, ArtifactDir
from interlock.defects import DefectLog, Failure, merge
from interlock.files import atomic_write
from interlock.statuses import TrafficStatus
from interlock.store.records import (
    PASS, CheckResult, ConditionRecord, DefectRecord, GateRecord, RunRecord, contract_key,
)
from interlock.verdict import record

if TYPE_CHECKING:
    from interlock.store import Store

BROKEN_ITEM = "orders->catalog: a request for product 1"
SERVICES = [
    {"name": "catalog", "kind": "http", "owner": "team-catalog", "openapi": "contracts/openapi/catalog.yaml", "asyncapi": None},
    {"name": "orders", "kind": "http", "owner": "team-orders", "openapi": "contracts/openapi/orders.yaml", "asyncapi": "contracts/asyncapi/orders-events.yaml"},
    {"name": "shipping", "kind": "worker", "owner": "team-shipping", "openapi": None, "asyncapi": None},
]
DEPENDENCIES = [
    ("catalog", "shopdb", "config", []), ("orders", "bus", "config", []), ("orders", "catalog", "pact", ["catalog:GET /products/{id}"]),
    ("orders", "shopdb", "config", []), ("shipping", "bus", "config", []), ("shipping", "orders", "pact", ["orders:publish order.created"]),
    ("shipping", "shopdb", "config", []), ("web", "orders", "pact", ["orders:POST /orders"]),
]


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@lru_cache(maxsize=8)
def _split_ids(count: int) -> tuple[tuple[str, str, str], ...]:
    return tuple((nodeid, *reversed(nodeid.split("::", 1))) for nodeid in sample_test_ids(count))  # type: ignore[misc]


def sample_test_ids(count: int, per_module: int = 50) -> list[str]:
    return [f"tests/test_area{i // per_module:03d}.py::test_case_{i:05d}" for i in range(count)]



def _contracts(broken: bool, started: datetime) -> dict[str, Any]:
    def item(cid: str, iid: str, desc: str, states: list[str], ms: float, fail: bool = False) -> dict[str, Any]:
        mismatches = []
        if fail:
            mismatches = [{"type": "BodyMismatch", "path": "$", "expected": '["currency","id","name","price_cents","stock"]',
                           "actual": '["currency","id","name","price","stock"]', "message": "Actual map is missing the following keys: price_cents"}]
        return {"id": iid, "description": desc, "provider_states": states, "status": "fail" if fail else "pass", "duration_ms": ms, "mismatches": mismatches}

    contracts = [
        ("pact:orders->catalog", "pact-http", "orders", "catalog", "contracts/pacts/orders-catalog.json", "3.0.0", [
            item("", BROKEN_ITEM, "a request for product 1", ["product 1 exists"], 130.0, broken),
            item("", "orders->catalog: a request for a missing product", "a request for a missing product", ["product 999 does not exist"], 31.0),
        ]),
        ("pact:shipping->orders", "pact-message", "shipping", "orders", "contracts/pacts/shipping-orders.json", "3.0.0", [
            item("", "shipping->orders: an order created event", "an order created event", ["product 1 exists"], 210.0),
        ]),
        ("pact:web->orders", "pact-http", "web", "orders", "contracts/pacts/web-orders.json", "4.0", [
            item("", "web->orders: create an order for product 1", "create an order for product 1", ["product 1 exists"], 79.0),
        ]),
        ("openapi:contracts/openapi/catalog.yaml->catalog", "openapi", "openapi:contracts/openapi/catalog.yaml", "catalog", "contracts/openapi/catalog.yaml", "3.0.3", [
            item("", "catalog:GET /products", "GET /products (listProducts)", [], 48.0),
            item("", "catalog:GET /products/{id}", "GET /products/{id} (getProduct)", [], 67.0),
        ]),
        ("schema:catalog->shopdb", "schema", "catalog", "shopdb", "contracts/schema/catalog.yaml", "1", [
            item("", "shopdb:table products", "catalog expects table products in shopdb", [], 23.0),
        ]),
    ]
    out, counts = [], {"passed": 0, "failed": 0}
    for cid, kind, consumer, provider, source, spec, items in contracts:
        status = "fail" if any(i["status"] == "fail" for i in items) else "pass"
        for i in items:
            counts["passed" if i["status"] == "pass" else "failed"] += 1
        out.append({"id": cid, "kind": kind, "consumer": consumer, "provider": provider, "source": source, "specification": spec,
                    "status": status, "duration_ms": sum(i["duration_ms"] for i in items), "reason": None, "interactions": items})
    return {
        "schema_version": 1, "generated_at": _iso(started + timedelta(seconds=5)), "environment": "integration",
        "status": "fail" if counts["failed"] else "pass", "contracts": out,
        "summary": {"contracts": len(out), "interactions": counts["passed"] + counts["failed"], "passed": counts["passed"], "failed": counts["failed"],
                    "errors": 0, "pending": 0, "not_executed": 0},
    }


def _scope(tests: list[str], started: datetime) -> dict[str, Any]:
    interfaces = [
        ("catalog:GET /products", "catalog", "http", "contracts/openapi/catalog.yaml", ["F-1"], [("openapi", "openapi contracts/openapi/catalog.yaml")]),
        ("catalog:GET /products/{id}", "catalog", "http", "contracts/openapi/catalog.yaml", ["F-1", "F-2"],
         [("pact", BROKEN_ITEM), ("pact", "orders->catalog: a request for a missing product"), ("openapi", "openapi contracts/openapi/catalog.yaml")]),
        ("orders:POST /orders", "orders", "http", "contracts/openapi/orders.yaml", ["F-2"], [("pact", "web->orders: create an order for product 1")]),
        ("orders:publish order.created", "orders", "message", "contracts/asyncapi/orders-events.yaml", ["F-3"], [("pact", "shipping->orders: an order created event")]),
        ("orders:GET /orders/{id}", "orders", "http", "contracts/openapi/orders.yaml", ["F-4"], []),
        ("shopdb:table products", "shopdb", "table", "migrations", [], [("schema", "schema contracts/schema/catalog.yaml (catalog)"), ("environment", "dataset products row count (step 1.2)")]),
    ]
    rows = []
    for n, (iid, service, kind, source, features, checks) in enumerate(interfaces):
        refs = [{"kind": k, "ref": r} for k, r in checks] + [{"kind": "test", "ref": t} for t in tests[n::len(interfaces)][:3]]
        rows.append({"id": iid, "service": service, "kind": kind, "operation": iid.split(":", 1)[1], "source": source, "features": features, "checks": refs,
                     "traffic": {"status": TrafficStatus.PENDING, "by": []}})  # the sample writes no trace evidence
    return {
        "schema_version": 1, "generated_at": _iso(started), "project": {"name": "shop", "version": "1.4.0"}, "environment": "integration",
        "prerequisites": [], "services": SERVICES, "interfaces": rows,
        "dependencies": [{"consumer": c, "provider": p, "via": v, "interfaces": i} for c, p, v, i in DEPENDENCIES],
        "features": [{"id": f"F-{n}", "title": t, "interfaces": []} for n, t in enumerate(("Browse catalog", "Place order", "Ship order", "Track order"), 1)],
        "uncovered": [], "undeclared_pacts": [], "unmatched_pact_interfaces": [],
    }


def _environment(started: datetime) -> dict[str, Any]:
    checks = [
        {"id": f"{s}.health", "kind": "http", "target": f"http://127.0.0.1:1808{n}/health", "status": "pass", "reason": f"status 200 in {10 + n} ms",
         "duration_ms": 10.0 + n, "details": {"status_code": 200}}
        for n, s in enumerate(("catalog", "orders", "shipping"), 1)
    ] + [{"id": "shopdb", "kind": "sqlite", "target": "sqlite:///shop.db", "status": "pass", "reason": "sqlite 3.40.1", "duration_ms": 2.5, "details": {}}]
    return {
        "schema_version": 1, "generated_at": _iso(started + timedelta(seconds=2)), "environment": "integration", "status": "pass",
        "started_at": _iso(started), "finished_at": _iso(started + timedelta(seconds=2)), "checks": checks,
        "summary": {"total": len(checks), "passed": len(checks), "failed": 0},
    }


def _tests(ids: list[str], failing: set[str], started: datetime) -> dict[str, Any]:
    tests, failures = [], []
    for n, nodeid in enumerate(ids):
        entry: dict[str, Any] = {
            "nodeid": nodeid, "lineno": 10 + n % 200, "outcome": "failed" if nodeid in failing else "passed",
            "keywords": [nodeid.rsplit("::", 1)[-1], "integration"], "metadata": {"interfaces": [], "critical": False},
            "setup": {"duration": 0.0004, "outcome": "passed"}, "call": {"duration": 0.002 + (n % 7) / 1000, "outcome": "passed"},
            "teardown": {"duration": 0.0002, "outcome": "passed"},
        }
        if nodeid in failing:
            message = f"AssertionError: assert 'price' == 'price_cents' (case {n})"
            entry["call"].update(outcome="failed", crash={"path": nodeid.split("::")[0], "lineno": 12, "message": message},
                                 longrepr=f"    def test():\n>       assert body['price'] == 'price_cents'\nE       {message}\n\n{nodeid.split('::')[0]}:12: AssertionError")
            failures.append({"nodeid": nodeid, "outcome": "failed", "message": message, "critical": False, "interfaces": [], "rerun": f"interlock test -- '{nodeid}'"})
        tests.append(entry)
    passed = len(ids) - len(failing & set(ids))
    return {
        "created": started.timestamp() + 10, "duration": 1.0 + len(ids) / 1000, "exitcode": 1 if failures else 0, "root": "/srv/shop",
        "summary": {"passed": passed, "failed": len(failures), "total": len(ids), "collected": len(ids)}, "tests": tests,
        "interlock": {"command": ["pytest", "-m", "integration"], "exit_code": 1 if failures else 0, "log": "logs/pytest.log", "environment": "integration",
                      "summary": {"collected": len(ids), "total": len(ids), "passed": passed, "failed": len(failures), "skipped": 0, "errors": 0, "deselected": 0},
                      "failures": failures, "filtered": False},
    }


def _condition(cid: str, metric: str, op: str, threshold: float, actual: float, ok: bool, artifact: str, reason: str | None = None) -> dict[str, Any]:
    status = "pass" if ok else "fail"
    return {"id": cid, "metric": metric, "operator": op, "threshold": threshold, "actual": actual, "blocking": True, "raw_status": status,
            "status": status, "artifact": artifact, "reason": None if ok else reason, "waivers": []}


def _gates(contract_failed: int, tests_failed: int, tests_total: int, critical_open: int, when: datetime) -> dict[str, Any]:
    gates = [
        (1, "Scope Alignment", [_condition("scope.interfaces", "interfaces", ">", 0, 6, True, SCOPE_MATRIX.filename)]),
        (2, "Contract Assurance", [_condition("contracts.failed", "contracts_failed", "==", 0, contract_failed, contract_failed == 0, CONTRACT_RESULTS.filename,
                                              f"contracts_failed is {contract_failed}, needs == 0: {BROKEN_ITEM}")]),
        (3, "Execution Integrity", [_condition("tests.ran", "tests_ran", ">", 0, tests_total, tests_total > 0, EXECUTION_REPORT.filename, "no test ran"),
                                    _condition("defects.open_critical", "open_critical_defects", "==", 0, critical_open, critical_open == 0, DEFECT_LOG.filename,
                                               f"open_critical_defects is {critical_open}, needs == 0")]),
        (4, "Sign-Off", [_condition("signoff.valid", "signoff_valid", "==", 1, 1, True, SIGNOFF.filename)]),
    ]
    out = [{"id": i, "name": n, "status": "pass" if all(c["status"] == "pass" for c in cs) else "fail", "conditions": cs} for i, n, cs in gates]
    return {"schema_version": 1, "generated_at": _iso(when), "status": "pass" if all(g["status"] == "pass" for g in out) else "fail", "gates": out}


def write_sample(
    folder: Path, *, run_id: str = "sample-1", tests: int = 8, failing_tests: Iterable[str] = (), broken_contract: bool = False,
    started_at: datetime | None = None, duration_s: float = 20.0, previous_defects: list[dict[str, str]] | None = None,
) -> Path:
    """Write a complete, schema-valid artifact folder of one synthetic run; returns `folder`."""
    started = started_at or datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
    ids = sample_test_ids(tests)
    failing = set(failing_tests)
    artifacts = ArtifactDir(folder)
    contracts = _contracts(broken_contract, started)
    artifacts.write_json(SCOPE_MATRIX.filename, _scope(ids, started))
    artifacts.write_json(ENVIRONMENT_REPORT.filename, _environment(started))
    artifacts.write_json(CONTRACT_RESULTS.filename, contracts)
    artifacts.write_json(EXECUTION_REPORT.filename, _tests(ids, failing, started))
    seen = [Failure("contract", BROKEN_ITEM, f"contract {BROKEN_ITEM} fail", "critical", "contract-validation-results.json#pact:orders->catalog",
                    "interlock contracts", "$: Actual map is missing the following keys: price_cents", "catalog")] if broken_contract else []
    seen += [Failure("test", t, f"test {t} failed", "high", f"test-execution-report.json#{t}", f"interlock test -- '{t}'", "AssertionError", None) for t in ids if t in failing]
    now = _iso(started + timedelta(seconds=duration_s))
    defects = merge(previous_defects or [], seen, run_id=run_id, now=now, owners={}, service_owners={"catalog": "team-catalog"})
    DefectLog(artifacts).write(defects)
    critical = sum(1 for d in defects if d["severity"] == "critical" and d["status"] == "open")
    record(artifacts, _gates(contracts["summary"]["failed"], len(failing & set(ids)), len(ids), critical, started + timedelta(seconds=duration_s)))
    state: dict[str, Any] = {"run_id": run_id, "environment": "integration", "started_at": _iso(started), "completed": [], "halted_at": None, "halt_reason": None}
    atomic_write(folder / ".interlock-state.json", json.dumps(state, indent=2).encode())
    return folder


def sample_record(index: int, *, tests: int, commit: str, seed: int = 7, fail_rate: float = 0.01, flaky: Iterable[str] = (),
                  start: datetime | None = None) -> RunRecord:
    """One synthetic run as a record: `fail_rate` of the tests fail at random, the `flaky` ones every other run."""
    rng = random.Random(seed * 100003 + index)
    begin = (start or datetime(2026, 1, 1, tzinfo=timezone.utc)) + timedelta(hours=index)
    flaky_set = set(flaky)
    results = []
    draw = rng.random
    odd = index % 2 == 1
    for nodeid, name, group in _split_ids(tests):
        fails = draw() < fail_rate or (odd and nodeid in flaky_set)
        results.append(CheckResult("test", nodeid, name, group, "fail" if fails else PASS, round(2.0 + draw() * 8, 3), "AssertionError: synthetic" if fails else None))
    broken = index % 10 == 9
    results.append(CheckResult("contract", contract_key("pact:orders->catalog", BROKEN_ITEM), "a request for product 1", "pact:orders->catalog",
                               "fail" if broken else PASS, 130.0, "$: Actual map is missing the following keys: price_cents" if broken else None))
    failed = sum(1 for r in results if r.outcome != PASS)
    gates = [GateRecord(1, "Scope Alignment", "pass"), GateRecord(2, "Contract Assurance", "fail" if broken else "pass"),
             GateRecord(3, "Execution Integrity", "fail" if failed else "pass"), GateRecord(4, "Sign-Off", "pass")]
    conditions = [ConditionRecord(2, "contracts.failed", "contracts_failed", "==", 0.0, float(broken), True, "fail" if broken else "pass",
                                  "fail" if broken else "pass", CONTRACT_RESULTS.filename, None, False)]
    defects = [DefectRecord(f"DEF-{n:08x}", f"{n:016x}", "test", f"test {r.key} failed", "high", "unassigned", "open", "", 1, r.message or "")
               for n, r in enumerate(results) if r.outcome != PASS]
    return RunRecord(
        run_id=f"run-{index:05d}", environment="integration", git_commit=commit, started_at=_iso(begin),
        finished_at=_iso(begin + timedelta(seconds=60 + rng.random() * 30)), status="fail" if any(g.status == "fail" for g in gates) else "pass",
        project="shop", gates=gates, conditions=conditions, results=results, defects=defects,
    )


def sample_history(store: Store, *, runs: int, tests: int, seed: int = 7, runs_per_commit: int = 2, flaky: int = 5) -> None:
    """Record `runs` synthetic runs (each commit run `runs_per_commit` times, `flaky` tests flip between them)."""
    flaky_ids = sample_test_ids(tests)[:: max(tests // max(flaky, 1), 1)][:flaky]
    for index in range(runs):
        store.record(sample_record(index, tests=tests, commit=f"{index // runs_per_commit:040x}", seed=seed, flaky=flaky_ids),
                     recorded_at=datetime(2026, 6, 1, tzinfo=timezone.utc) + timedelta(minutes=index))
