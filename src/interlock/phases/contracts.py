"""Step 2.2: verify every contract the system declares, of every kind, against the running system.

Each contract kind (pact, openapi, asyncapi, schema) is one `ContractKind` of
the table `interlock.contracts.kinds.KINDS`; the kinds the config declares run
side by side. Every kind the config can declare is registered there, and a
kind that lacks a part is refused when it is registered, so a declared kind is
never skipped silently.

A kind's `prepare(ctx, only)` is work done once per run whose result both
`settings` and `verify` take (pact fetches its URL sources there, so the
config artifact records the SHA-256 of exactly what was verified).

`interlock contracts --only ID` reruns just the named items (`ctx.spec.only`,
deduplicated): a kind whose `prepare` returns a `Selection` (pact) passes them
to its verifier, the other kinds are verified whole and keep only the named
items. The results then carry a top-level `filter`, and Gate 2 fails such a
file: a filtered run is never complete evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from interlock.artifacts import CONTRACT_CONFIG, CONTRACT_RESULTS
from interlock.contracts.kinds import KINDS, Selection
from interlock.errors import Problem, UsageError
from interlock.events import AutomationExecuted, CheckFinished, Notice
from interlock.statuses import ContractStatus, StepStatus
from interlock.protocol import Outcome
from interlock.context import RunContext, tool_versions, utc_now

TOOLS = ("interlock", "pact-python", "pact-python-ffi", "openapi-core", "jsonschema", "schemathesis", "sqlalchemy")


def declared(ctx: RunContext) -> list[str]:
    """The contract kinds the config declares, in the order of the kinds' table."""
    return [name for name, kind in KINDS.items() if kind.declared(ctx.config)]


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
            status = ContractStatus.NOT_EXECUTED if statuses == {ContractStatus.NOT_EXECUTED} else ContractStatus.PASS if statuses == {ContractStatus.PASS} else ContractStatus.FAIL
            kept.append({**record, "interactions": items, "status": status, "duration_ms": round(sum(i["duration_ms"] for i in items), 3)})
    return kept


def _known_ids(records: list[dict[str, Any]]) -> set[str]:
    return {r["id"] for r in records} | {i["id"] for r in records for i in r["interactions"]}


def run(ctx: RunContext) -> Outcome:
    """Verify every declared contract (or just the `only` ones); write the contract config and results artifacts."""
    ids = ctx.spec.only
    kinds = declared(ctx)
    prepared = {kind: KINDS[kind].prepare(ctx, ids) for kind in kinds}
    if ids:
        # Kinds that can say what they have before running skip what is not asked for; the others run whole and are cut after.
        selective = {kind: plan for kind, plan in prepared.items() if isinstance(plan, Selection)}
        unmatched = set(ids)
        for plan in selective.values():
            unmatched &= set(plan.unmatched)
        for kind, plan in selective.items():
            problem = plan.refusal(unmatched, tuple(p for name, other in KINDS.items() if name != kind for p in other.prefixes))
            if problem is not None:
                raise UsageError(problem)
        if unmatched and all(k in selective for k in kinds):
            raise UsageError(Problem("--only", f"no contract item has id {', '.join(map(repr, sorted(unmatched)))}; ids are listed in contract-validation-results.json"))
        run_kinds = [k for k in kinds if k in selective or unmatched]
    else:
        run_kinds = kinds

    ctx.artifacts.write_json(CONTRACT_CONFIG, {
        "schema_version": 1, "generated_at": utc_now(), "environment": ctx.env_name, "tools": tool_versions(TOOLS), "concurrency": max(1, len(run_kinds)),
        "validators": {kind: KINDS[kind].settings(ctx, prepared[kind]) for kind in kinds},
    })
    records: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max_workers=max(1, len(run_kinds))) as pool:
        futures = {kind: pool.submit(KINDS[kind].verify, ctx, prepared[kind]) for kind in run_kinds}
        for kind in run_kinds:
            records += futures[kind].result()
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
        "schema_version": 1, "generated_at": utc_now(), "environment": ctx.env_name, "status": ContractStatus.PASS if ok else ContractStatus.FAIL, "contracts": records, "summary": summary,
    }
    if ids:
        results["filter"] = list(ids)
    ctx.artifacts.write_json(CONTRACT_RESULTS, results)
    ctx.emit(AutomationExecuted("run_contract_tests.py", "PASS" if ok else "FAIL"))
    if not records:
        return Outcome(StepStatus.FAIL, "no contracts declared: configure [contracts] in interlock.toml")
    what = f"{summary['interactions']} items in {summary['contracts']} contracts: {summary['passed']} passed, {failed} failed, {summary['pending']} pending"
    if ids:
        what = f"filtered rerun (not complete evidence): {what}"
    return Outcome.of(ok, what)
