"""Step 3.2: turn every failure of this run into a tracked defect, and the protocol's halt.

Failures come from the artifacts (environment checks, contract interactions,
tests), so triage is the same whether the steps ran now or before a resume.
Critical defects without a mitigation plan stop the run at the DEFECT REVIEW
prompt unless it is answered yes. Checks the run history shows flaky (passed
and failed on one commit, this run included) become medium defects of their own.
"""

from __future__ import annotations

from interlock.statuses import CheckStatus

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from interlock.artifacts import CONTRACT_RESULTS, ENVIRONMENT_REPORT, EXECUTION_REPORT
from interlock.config import Config
from interlock.policy import Waiver
from interlock.defects import DefectLog, Failure, merge, unmitigated_critical
from interlock.errors import UsageError
from interlock.events import DefectFound, Notice, ProtocolError
from interlock.execution import report_name, shard_of
from interlock.gates import active_waivers
from interlock.protocol import HaltRun, Outcome
from interlock.runfolder import RunFolder
from interlock.context import RunContext, utc_now
from interlock.statuses import ContractStatus


def failures_from(env_report: Mapping[str, Any] | None, contracts: Mapping[str, Any] | None, tests: Mapping[str, Any] | None, env_name: str) -> list[Failure]:
    """Every failure recorded in this run's artifacts (pure)."""
    found: list[Failure] = []
    for check in (env_report or {}).get("checks", []):
        if check["status"] != CheckStatus.PASS:
            found.append(Failure(
                "environment", check["id"], f"environment check {check['id']} failed", "high",
                f"{ENVIRONMENT_REPORT}#checks[id={check['id']}]", f"interlock env --env {env_name}", check.get("reason") or "", check["id"].split(".")[0],
            ))
    for contract in (contracts or {}).get("contracts", []):
        for item in contract["interactions"]:
            # Every status but pass and pending is a defect, an unknown one (`FAIL`, none) too: it is never a pass.
            if item.get("status") not in (ContractStatus.PASS, ContractStatus.PENDING):
                detail = "; ".join(f"{m.get('path') or ''} {m['message']}".strip() for m in item["mismatches"])
                found.append(Failure(
                    "contract", item["id"], f"contract {item['id']} {item.get('status') or 'without a status'}", "critical",
                    f"{CONTRACT_RESULTS}#{contract['id']}/{item['description']}", f"interlock contracts --env {env_name} --only '" + item["id"].replace("'", "'\"'\"'") + "'", detail, contract["provider"],
                ))
    report = (tests or {}).get("interlock", {})
    for failure in report.get("failures", []):
        interfaces = failure.get("interfaces") or []
        found.append(Failure(
            "test", failure["nodeid"], f"test {failure['nodeid']} {failure['outcome']}", "critical" if failure.get("critical") else "high",
            f"{EXECUTION_REPORT}#{failure['nodeid']}", failure["rerun"], failure.get("message", ""), interfaces[0].split(":")[0] if interfaces else None,
        ))
    return found


def flaky_from_history(ctx: RunContext, env_report: Mapping[str, Any] | None, contracts: Mapping[str, Any] | None, tests: Mapping[str, Any] | None,
                       existing: list[dict[str, str]]) -> list[Failure]:
    """Flaky checks by the run history plus this run's outcomes, but resolved ones not seen anew (`existing`: the defect log).

    None (with a notice) without a commit or a store.
    """
    commit = ctx.loaded.commit_key(ctx.published or ctx.artifacts.root)
    if commit is None:
        ctx.emit(Notice("3.2", "no git commit for the system under test: flakiness across runs not checked"))
        return []
    # The store (SQLAlchemy, alembic) costs ~0.35 s to import: only when there is a commit to look up.
    from interlock.store import open_store
    from interlock.store.records import flaky_failures, run_results

    current = run_results(env_report, contracts, tests)
    try:
        with open_store(ctx.config.store.url, ctx.loaded.root) as store:
            flaky = store.flaky_with(current, ctx.run_id, commit, environment=ctx.env_name)
    except UsageError as exc:
        ctx.emit(Notice("3.2", f"flakiness across runs not checked: {exc}"))
        return []
    failures = flaky_failures(flaky)
    fresh = {failure.fingerprint for failure, check in zip(failures, flaky) if check.last_run_id == ctx.run_id}
    return settled_flaky(existing, failures, fresh)


def settled_flaky(existing: list[dict[str, str]], flaky: list[Failure], fresh: set[str]) -> list[Failure]:
    """The flaky failures to file: a resolved flaky defect stays resolved unless this run observed the flip anew.

    The history keeps a check flaky for as long as its runs stay in the window
    (200 runs): filing it again would reopen a defect someone resolved on
    evidence already seen. Only a new observation (`fresh`: fingerprints of the
    checks this very run both passed and failed with, on one identity) reopens it.
    """
    resolved = {row["fingerprint"] for row in existing if row["status"] == "resolved" and row["source"] == "flaky"}
    return [f for f in flaky if f.fingerprint not in resolved or f.fingerprint in fresh]


def triaged(config: Config, existing: list[dict[str, str]], found: list[Failure], run_id: str) -> list[dict[str, str]]:
    """The defect log after a run's failures: merged with the existing rows (owners from the config), waivers applied."""
    service_owners = {n: s.owner for n, s in config.services.items()}
    rows = merge(existing, found, run_id=run_id, now=utc_now(), owners=config.owners, service_owners=service_owners)
    apply_waivers(rows, active_waivers(config.waivers, datetime.now(timezone.utc)))
    return rows


#: The conditions a defect waiver relieves: its item is the defect id.
DEFECT_CONDITIONS = ("defects.open_critical", "tests.unresolved_failures")


def apply_waivers(rows: list[dict[str, str]], waivers: list[Waiver]) -> None:
    """A defect named (by id) as the item of an active config waiver on a defect condition is waived, with the waiver's details.

    A waiver of another condition never waives a defect, even one of the same failure:
    a waiver matches only its own condition's items.
    """
    by_id = {w.item: w for w in waivers if w.condition in DEFECT_CONDITIONS and w.item is not None}
    for row in rows:
        waiver = by_id.get(row["id"])
        if waiver is not None and row["status"] in ("open", "mitigated"):
            expires = waiver.expires.isoformat().replace("+00:00", "Z")
            row.update(status="waived", waiver_approver=waiver.approver, waiver_reason=f"{waiver.justification} ({waiver.ticket})", waiver_expires=expires)


def run(ctx: RunContext) -> Outcome:
    """Merge this run's failures into defect-log.csv; halt on unmitigated critical defects unless confirmed.

    A shard (`interlock test --shard K/N`) triages its own report into its own
    `defect-log.shard-K-of-N.csv`, starting from the published log so human edits
    carry over; `interlock merge` combines the shards' logs.
    """
    folder = RunFolder.load(ctx.artifacts)
    args = list(ctx.spec.pytest_args)
    env_report, contracts, tests = folder.env_report, folder.contracts, folder.json(report_name(args))
    found = failures_from(env_report, contracts, tests, ctx.env_name)
    flaky = flaky_from_history(ctx, env_report, contracts, tests, folder.defects)
    log = DefectLog(ctx.artifacts, shard_of(args))
    rows = triaged(ctx.config, folder.defects, [*found, *flaky], ctx.run_id)
    log.write(rows)
    current = {f.fingerprint for f in (*found, *flaky)}
    for row in rows:
        if row["fingerprint"] in current:
            ctx.emit(DefectFound(row["id"], row["severity"], row["title"], row["owner"], row["rerun"]))
    blocking = unmitigated_critical(rows, ctx.run_id)
    if blocking:
        ctx.emit(ProtocolError("TestFailure", [f"{r['id']}: {r['title']} (owner {r['owner']})" for r in blocking]))
        if not ctx.ask("defect-review"):
            raise HaltRun("3.2", f"{len(blocking)} critical defect(s) without a remediation plan: " + ", ".join(r["id"] for r in blocking)
                          + "; record plans with `interlock defects mitigate ID --plan ...`")
    open_count = sum(1 for r in rows if r["status"] == "open")
    flaky_note = f", {len(flaky)} flaky check(s) by the run history" if flaky else ""
    return Outcome.of(not found, f"{len(found)} failure(s) this run{flaky_note}, {open_count} open defect(s) in the log" if found else f"no failures this run{flaky_note}; {open_count} open defect(s) in the log")
