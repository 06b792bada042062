"""Step 2.2: verify every contract the system declares, of every kind, against the running system.

Each contract kind (pact, openapi, asyncapi, schema) is a module of
`interlock.contracts` with `settings(ctx)` and `verify(ctx)`; the kinds run
side by side. A kind that is declared in the config but not built yet is a
failed, not-executed contract, never a silent pass.
"""

from __future__ import annotations

import importlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from interlock.events import AutomationExecuted, CheckFinished
from interlock.phases import Outcome
from interlock.runtime import RunContext, tool_versions, utc_now

KINDS = ("pact", "openapi", "asyncapi", "schema")
TOOLS = ("interlock", "pact-python", "pact-python-ffi", "openapi-core", "jsonschema", "schemathesis", "sqlalchemy")


def declared(ctx: RunContext) -> list[str]:
    """The contract kinds the config declares."""
    contracts = ctx.config.contracts
    present = {"pact": contracts.pact, "openapi": contracts.openapi, "asyncapi": contracts.asyncapi, "schema": contracts.schema_}
    return [kind for kind in KINDS if present[kind]]


def _module(kind: str) -> Any | None:
    try:
        return importlib.import_module(f"interlock.contracts.{kind}")
    except ModuleNotFoundError as exc:
        if exc.name == f"interlock.contracts.{kind}":
            return None
        raise


def _not_built(kind: str) -> dict[str, Any]:
    return {
        "id": f"{kind}:*", "kind": kind, "consumer": "-", "provider": "-", "source": "interlock.toml [contracts]", "specification": None,
        "status": "not_executed", "duration_ms": 0.0, "reason": f"{kind} contracts are declared but their verification is not implemented", "interactions": [],
    }


def summarise(records: list[dict[str, Any]]) -> dict[str, int]:
    interactions = [i for r in records for i in r["interactions"]]

    def count(status: str) -> int:
        return sum(1 for i in interactions if i["status"] == status)

    return {
        "contracts": len(records), "interactions": len(interactions), "passed": count("pass"), "failed": count("fail"),
        "errors": count("error"), "pending": count("pending"), "not_executed": count("not_executed") + sum(1 for r in records if not r["interactions"]),
    }


def run(ctx: RunContext) -> Outcome:
    """Verify every declared contract; write the contract config and results artifacts."""
    kinds = declared(ctx)
    modules = {kind: _module(kind) for kind in kinds}
    ctx.artifacts.write_json("contract-validation-config.json", {
        "schema_version": 1, "generated_at": utc_now(), "environment": ctx.env_name, "tools": tool_versions(TOOLS), "concurrency": max(1, len(kinds)),
        "validators": {kind: (module.settings(ctx) if module else {"status": "not implemented"}) for kind, module in modules.items()},
    })
    records: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max_workers=max(1, len(kinds))) as pool:
        futures = {kind: pool.submit(module.verify, ctx) for kind, module in modules.items() if module}
        for kind, module in modules.items():
            records += futures[kind].result() if module else [_not_built(kind)]
    summary = summarise(records)
    failed = summary["failed"] + summary["errors"] + summary["not_executed"]
    for record in records:
        for item in record["interactions"]:
            reason = "; ".join(f"{m['path'] or ''} {m['message']}".strip() for m in item["mismatches"]) or None
            ctx.emit(CheckFinished("2.2", item["id"], item["status"], reason))
    ok = bool(records) and summary["interactions"] > 0 and failed == 0
    ctx.artifacts.write_json("contract-validation-results.json", {
        "schema_version": 1, "generated_at": utc_now(), "environment": ctx.env_name, "status": "pass" if ok else "fail", "contracts": records, "summary": summary,
    })
    ctx.emit(AutomationExecuted("run_contract_tests.py", "PASS" if ok else "FAIL"))
    if not records:
        return Outcome("fail", "no contracts declared: configure [contracts] in interlock.toml")
    return Outcome.of(ok, f"{summary['interactions']} items in {summary['contracts']} contracts: {summary['passed']} passed, {failed} failed, {summary['pending']} pending")
