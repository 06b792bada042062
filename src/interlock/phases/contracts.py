"""Step 2.2: verify every contract the system declares, of every kind, against the running system.

Each contract kind (pact, openapi, asyncapi, schema) is a module of
`interlock.contracts` with `settings(ctx)` and `verify(ctx)`; the kinds run
side by side. A kind that is declared in the config but not built yet is a
failed, not-executed contract, never a silent pass.

A kind may also have `prepare(ctx, only)`: work done once per run whose result
both `settings` and `verify` take (pact fetches its URL sources there, so the
config artifact records the SHA-256 of exactly what was verified).

`interlock contracts --only ID` reruns just the named items (`only(...)` around
the step): pact passes them to the verifier's filter, the other kinds are
verified whole and keep only the named items. The results then carry a
top-level `filter`, and Gate 2 fails such a file: a filtered run is never
complete evidence.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from interlock.errors import Problem, UsageError
from interlock.events import AutomationExecuted, CheckFinished, Notice
from interlock.phases import Outcome
from interlock.runtime import RunContext, tool_versions, utc_now

KINDS = ("pact", "openapi", "asyncapi", "schema")
TOOLS = ("interlock", "pact-python", "pact-python-ffi", "openapi-core", "jsonschema", "schemathesis", "sqlalchemy")
_ONLY: ContextVar[tuple[str, ...]] = ContextVar("interlock_contracts_only", default=())


@contextmanager
def only(ids: Sequence[str]) -> Iterator[None]:
    """Within the block, step 2.2 verifies just the items (or contracts) with these ids: an exact rerun."""
    token = _ONLY.set(tuple(dict.fromkeys(ids)))
    try:
        yield
    finally:
        _ONLY.reset(token)


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


def keep_only(records: list[dict[str, Any]], ids: Sequence[str]) -> list[dict[str, Any]]:
    """The records of a filtered run: a record named by its id whole, else only its named items (pure)."""
    wanted = set(ids)
    kept = []
    for record in records:
        if record["id"] in wanted:
            kept.append(record)
            continue
        items = [i for i in record["interactions"] if i["id"] in wanted]
        if items:
            statuses = {i["status"] for i in items}
            status = "not_executed" if statuses == {"not_executed"} else "pass" if statuses == {"pass"} else "fail"
            kept.append({**record, "interactions": items, "status": status, "duration_ms": round(sum(i["duration_ms"] for i in items), 3)})
    return kept


def _known_ids(records: list[dict[str, Any]]) -> set[str]:
    return {r["id"] for r in records} | {i["id"] for r in records for i in r["interactions"]}


def run(ctx: RunContext) -> Outcome:
    """Verify every declared contract (or just the `only` ones); write the contract config and results artifacts."""
    ids = _ONLY.get()
    kinds = declared(ctx)
    modules = {kind: _module(kind) for kind in kinds}
    prepared = {kind: module.prepare(ctx, ids) for kind, module in modules.items() if module and hasattr(module, "prepare")}
    if ids:
        # Kinds that can say what they have before running skip what is not asked for; the others run whole and are cut after.
        unmatched = set(ids)
        for plan in prepared.values():
            unmatched &= set(plan.unmatched)
        open_kinds = [k for k in kinds if k not in prepared]
        others = tuple(f"{k}:" for k in KINDS if k != "pact") + ("schemathesis:",)
        pact_like = sorted(i for i in unmatched if "->" in i and not i.startswith(others))
        if "pact" in prepared and pact_like:
            raise UsageError(Problem("--only", f"no pact interaction has id {', '.join(map(repr, pact_like))}; ids look like 'consumer->provider: description'"))
        if unmatched and not any(modules[k] for k in open_kinds):
            raise UsageError(Problem("--only", f"no contract item has id {', '.join(map(repr, sorted(unmatched)))}; ids are listed in contract-validation-results.json"))
        run_kinds = [k for k in kinds if k in prepared or unmatched]
    else:
        run_kinds = kinds

    def settings(kind: str, module: Any) -> Any:
        if module is None:
            return {"status": "not implemented"}
        return module.settings(ctx, prepared[kind]) if kind in prepared else module.settings(ctx)

    def verify(kind: str, module: Any) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = module.verify(ctx, prepared[kind]) if kind in prepared else module.verify(ctx)
        return records

    ctx.artifacts.write_json("contract-validation-config.json", {
        "schema_version": 1, "generated_at": utc_now(), "environment": ctx.env_name, "tools": tool_versions(TOOLS), "concurrency": max(1, len(run_kinds)),
        "validators": {kind: settings(kind, module) for kind, module in modules.items()},
    })
    records: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max_workers=max(1, len(run_kinds))) as pool:
        futures = {kind: pool.submit(verify, kind, modules[kind]) for kind in run_kinds if modules[kind]}
        for kind in run_kinds:
            records += futures[kind].result() if modules[kind] else ([] if ids else [_not_built(kind)])
    if ids:
        records = keep_only(records, ids)
        missing = [i for i in ids if i not in _known_ids(records)]
        if missing:
            raise UsageError(Problem("--only", f"no contract item has id {', '.join(map(repr, missing))}; ids are listed in contract-validation-results.json"))
        ctx.emit(Notice("2.2", f"filtered run of {len(ids)} id(s): the results are marked filtered and are not complete evidence for Gate 2"))
    summary = summarise(records)
    failed = summary["failed"] + summary["errors"] + summary["not_executed"]
    for record in records:
        for item in record["interactions"]:
            reason = "; ".join(f"{m['path'] or ''} {m['message']}".strip() for m in item["mismatches"]) or None
            ctx.emit(CheckFinished("2.2", item["id"], item["status"], reason))
    ok = bool(records) and summary["interactions"] > 0 and failed == 0
    results: dict[str, Any] = {
        "schema_version": 1, "generated_at": utc_now(), "environment": ctx.env_name, "status": "pass" if ok else "fail", "contracts": records, "summary": summary,
    }
    if ids:
        results["filter"] = list(ids)
    ctx.artifacts.write_json("contract-validation-results.json", results)
    ctx.emit(AutomationExecuted("run_contract_tests.py", "PASS" if ok else "FAIL"))
    if not records:
        return Outcome("fail", "no contracts declared: configure [contracts] in interlock.toml")
    what = f"{summary['interactions']} items in {summary['contracts']} contracts: {summary['passed']} passed, {failed} failed, {summary['pending']} pending"
    if ids:
        what = f"filtered rerun (not complete evidence): {what}"
    return Outcome.of(ok, what)
