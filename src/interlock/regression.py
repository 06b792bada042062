"""Step 3.3: rerun the tests behind resolved and mitigated defects to confirm they are stable.

Each test defect whose status is `resolved` or `mitigated` is rerun RUNS times
(its node id comes from the defect's rerun command, `interlock test -- '<nodeid>'`):
3/3 passes is fixed, 0/3 failing, anything between flaky. A resolved defect
whose test still fails is reopened, and the gate counts every resolved defect
without a passing rerun, so "resolved" is never taken on trust.

The protocol asks for "targeted regressions around fixed areas": with them run
their neighbours, the tests of the same module and then of the same service (by
the interface markers in the published test-execution-report.json), up to
NEIGHBOURS of them and none already tracked as a defect. A neighbour that fails
every run is a regression next to the fix and fails the step; a flaky one is
reported.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interlock.artifacts import EXECUTION_REPORT, REGRESSION_DATA, REGRESSION_SUMMARY
from interlock.defects import DefectLog
from interlock.events import Progress
from interlock.execution import PytestRun, previous_report, pytest_command, report_path, run_pytest
from interlock.protocol import Outcome
from interlock.context import RunContext, utc_now
from interlock.statuses import RegressionVerdict

RUNS = 3
NEIGHBOURS = 20  # neighbour tests rerun with the defects' own, at most
TARGETS = "logs/regression-targets.json"  # what the reruns keep (--interlock-keep)
RERUN_STATUSES = ("resolved", "mitigated")
NOTHING = "No defect is resolved or mitigated; nothing was rerun."
VERDICTS: dict[str, str] = {RegressionVerdict.PASS: "fixed", RegressionVerdict.FLAKY: "flaky", RegressionVerdict.FAIL: "failing"}
PASSED, NEUTRAL = ("passed", "xpassed"), ("skipped", "xfailed")


@dataclass
class Rerun:
    """One defect's spot-check: its test, how many of the runs passed, the verdict (pass / flaky / fail)."""

    row: dict[str, str]
    nodeid: str | None
    passes: int = 0

    @property
    def verdict(self) -> str:
        return RegressionVerdict.PASS if self.passes == RUNS else RegressionVerdict.FAIL if self.passes == 0 else RegressionVerdict.FLAKY


@dataclass
class Neighbour:
    """A test near a rerun defect's test (same module or service), rerun with it; its outcome in each run."""

    nodeid: str
    why: str
    outcomes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        ran = [o for o in self.outcomes if o not in NEUTRAL + ("absent",)]
        if not ran:
            return "not run"
        passes = sum(o in PASSED for o in ran)
        return RegressionVerdict.PASS if passes == len(ran) == RUNS else RegressionVerdict.FAIL if passes == 0 else RegressionVerdict.FLAKY


def neighbours_of(report: dict[str, Any] | None, root: Path, targets: list[str], tracked: set[str], limit: int = NEIGHBOURS) -> list[Neighbour]:
    """Tests of the published report in the targets' modules, then sharing a service with them (pure), untracked, up to `limit`."""
    if not report or not targets:
        return []
    from interlock.shards import relocate

    tests = [(relocate(t["nodeid"], Path(report["root"]), root), t) for t in report["tests"]]
    services = {nodeid: {i.split(":")[0] for i in t.get("metadata", {}).get("interfaces", [])} for nodeid, t in tests}
    modules = {t.partition("::")[0] for t in targets}
    wanted: set[str] = set().union(*(services.get(t, set()) for t in targets))
    chosen: dict[str, Neighbour] = {}
    candidates = [(n, "same module") for n, _ in tests if n.partition("::")[0] in modules]
    candidates += [(n, "same service " + ", ".join(sorted(services[n] & wanted))) for n, _ in tests if services[n] & wanted]
    for nodeid, why in candidates:
        covered = nodeid in targets or any(nodeid.startswith((t + "::", t.rstrip("/") + "/")) for t in targets)
        gone = not (root / nodeid.partition("::")[0]).is_file()  # renamed or deleted since the report
        if not covered and not gone and nodeid not in tracked and nodeid not in chosen:
            chosen[nodeid] = Neighbour(nodeid, why)
    return list(chosen.values())[:limit]


def nodeid_of(rerun: str) -> str | None:
    """The node id in `interlock test -- '<nodeid>'`; None when the command has no single target."""
    try:
        words = shlex.split(rerun)
    except ValueError:
        return None
    if words[:3] != ["interlock", "test", "--"] or len(words) != 4:
        return None
    return words[3]


def junit_target(row: dict[str, str]) -> str | None:
    """A runner "junit" defect's test id: its evidence is `test-execution-report.json#<id>` (its rerun is the runner's own command)."""
    prefix = f"{EXECUTION_REPORT.filename}#"
    return row["evidence"][len(prefix):] or None if row["evidence"].startswith(prefix) else None


def junit_spot_check(ctx: RunContext, reruns: list[Rerun]) -> list[PytestRun]:
    """Rerun each defect's test RUNS times with the runner's own rerun command (interlock.junitsuite)."""
    from interlock.junitsuite import spot_check as rerun_junit

    targets = list(dict.fromkeys(r.nodeid for r in reruns if r.nodeid))
    if not targets:
        return []
    passes = dict.fromkeys(targets, 0)
    runs = rerun_junit(ctx, targets, RUNS, passes)
    for rerun in reruns:
        if rerun.nodeid:
            rerun.passes = passes[rerun.nodeid]
    return runs


def passed_in(target: str, run: PytestRun, outcomes: dict[str, str]) -> bool:
    """A test passed; a module or folder (a collection or run-level defect) ran to the end, some passed, none failed."""
    if target in outcomes:
        return outcomes[target] in PASSED
    under = [o for nodeid, o in outcomes.items() if nodeid.startswith((target + "::", target.rstrip("/") + "/"))]
    complete = run.stopped_after is None and run.exit_code in (0, 1)
    return complete and any(o in PASSED for o in under) and all(o in PASSED + NEUTRAL for o in under)


def spot_check(ctx: RunContext, reruns: list[Rerun], neighbours: list[Neighbour] | None = None) -> list[PytestRun]:
    """Run all targets and neighbours together RUNS times (no `-m`, no `--maxfail`: each named test must run every time)."""
    targets = list(dict.fromkeys(r.nodeid for r in reruns if r.nodeid))
    runs: list[PytestRun] = []
    if not targets:
        return runs
    neighbours = neighbours or []
    report = report_path(ctx, "regression")
    # Their files are collected and the plugin keeps just these tests (listed in a log, so the command reruns as is):
    # a test deleted since the defect was logged is absent, not a pytest usage error that would fail every rerun.
    wanted = [*targets, *(n.nodeid for n in neighbours)]
    files = list(dict.fromkeys(w.partition("::")[0] for w in wanted))
    listing = ctx.artifacts.write_text(TARGETS, json.dumps(wanted, indent=2) + "\n")
    args = [*files, "--interlock-root", str(ctx.loaded.root), "--interlock-keep", str(listing)]
    for index in range(1, RUNS + 1):
        ctx.emit(Progress("3.3", index - 1, RUNS, f"rerun {index}/{RUNS}"))
        command = pytest_command(ctx, report, args, marker=None, maxfail=None)
        run = run_pytest(ctx, command, report, f"logs/regression-{index}.log")
        runs.append(run)
        outcomes = run.outcomes(ctx.loaded.root)
        for rerun in reruns:
            if rerun.nodeid and passed_in(rerun.nodeid, run, outcomes):
                rerun.passes += 1
        for neighbour in neighbours:
            neighbour.outcomes.append(outcomes.get(neighbour.nodeid, "absent"))
    ctx.emit(Progress("3.3", RUNS, RUNS, "reruns done"))
    return runs


def apply(reruns: list[Rerun]) -> None:
    """Record the verdicts; a resolved defect whose test still fails every time is open again."""
    for rerun in reruns:
        rerun.row["regression"] = rerun.verdict
        if rerun.verdict == RegressionVerdict.FAIL and rerun.nodeid and rerun.row["status"] == "resolved":
            rerun.row["status"] = "open"


def summary_text(ctx: RunContext, reruns: list[Rerun], before: dict[str, str], runs: list[PytestRun], others: list[dict[str, str]],
                 neighbours: list[Neighbour] | None = None) -> str:
    """The regression summary: what was rerun, how often, with which command, and each verdict."""
    lines = ["# Regression spot-checks", "", f"Run `{ctx.run_id}` in environment `{ctx.env_name}`, {utc_now()}.", ""]
    if not reruns:
        lines.append(NOTHING if not others else "No test defect is resolved or mitigated; no test was rerun.")
    else:
        lines += [f"{len(reruns)} defect(s) rerun {RUNS} times; 3/3 passes is fixed, 0/3 failing, anything else flaky.", ""]
        for index, run in enumerate(runs, 1):
            why = f" (stopped after {run.stopped_after:g}s)" if run.stopped_after is not None else ""
            why = why or (f" ({run.last_error})" if run.exit_code not in (0, 1) and run.last_error else "")
            lines.append(f"- Run {index}: exit {run.exit_code}{why}, log `logs/regression-{index}.log`")
        if runs:
            lines += ["", f"Command: `{shlex.join(runs[0].command)}`"]
        lines += ["", "| Defect | Severity | Test | Passed | Verdict | Status before | Status after |", "|---|---|---|---|---|---|---|"]
        for rerun in reruns:
            test = f"`{rerun.nodeid}`".replace("|", "\\|") if rerun.nodeid else f"no rerun target in `{rerun.row['rerun']}`"
            lines.append(f"| {rerun.row['id']} | {rerun.row['severity']} | {test} | {rerun.passes}/{RUNS} | "
                         f"{rerun.verdict} ({VERDICTS[rerun.verdict]}) | {before[rerun.row['id']]} | {rerun.row['status']} |")
        if neighbours:
            lines += ["", f"Neighbours rerun with them (same module, then same service; at most {NEIGHBOURS}):", "",
                      "| Test | Why | Outcomes | Verdict |", "|---|---|---|---|"]
            for n in neighbours:
                test = f"`{n.nodeid}`".replace("|", "\\|")
                lines.append(f"| {test} | {n.why} | {', '.join(n.outcomes)} | {n.verdict} |")
        elif runs and ctx.config.suite.runner == "junit":
            lines += ["", "No neighbours: with runner \"junit\" each defect's test reruns alone with the runner's own rerun command."]
        elif runs:
            lines += ["", f"No neighbours: no other test of these modules or services in {EXECUTION_REPORT}."]
    if others:
        lines += ["", "Not rerun here (not test defects; their own step rechecks them):", ""]
        lines += [f"- {r['id']} ({r['source']}, {r['status']}): `{r['rerun']}`" for r in others]
    return "\n".join(lines) + "\n"


def summary_data(ctx: RunContext, reruns: list[Rerun], before: dict[str, str], runs: list[PytestRun], others: list[dict[str, str]],
                 neighbours: list[Neighbour], recorded: str) -> dict[str, Any]:
    """The regression summary as data (regression-summary.json): what later steps read instead of the Markdown."""
    return {
        "schema_version": 1, "generated_at": recorded, "run_id": ctx.run_id, "environment": ctx.env_name, "runs": RUNS,
        "pytest_runs": [{"exit_code": run.exit_code, "log": f"logs/regression-{index}.log", "stopped_after": run.stopped_after,
                         "error": run.last_error if run.exit_code not in (0, 1) and run.last_error else None}
                        for index, run in enumerate(runs, 1)],
        "command": list(runs[0].command) if runs else None,
        "reruns": [{"defect": r.row["id"], "severity": r.row["severity"], "nodeid": r.nodeid, "rerun": r.row["rerun"], "passes": r.passes,
                    "verdict": r.verdict, "status_before": before[r.row["id"]], "status_after": r.row["status"]} for r in reruns],
        "neighbours": [{"nodeid": n.nodeid, "why": n.why, "outcomes": list(n.outcomes), "verdict": n.verdict} for n in neighbours],
        "not_rerun": [{"defect": r["id"], "source": r["source"], "status": r["status"], "rerun": r["rerun"]} for r in others],
    }


def run(ctx: RunContext) -> Outcome:
    """Step 3.3: rerun, record verdicts in `defect-log.csv`, write `regression-summary.md` and its data twin; fail if a resolved defect is not fixed."""
    log = DefectLog(ctx.artifacts)
    rows = log.read()
    due = [r for r in rows if r["status"] in RERUN_STATUSES]
    junit = ctx.config.suite.runner == "junit"
    target_of = junit_target if junit else (lambda row: nodeid_of(row["rerun"]))
    reruns = [Rerun(r, target_of(r)) for r in due if r["source"] == "test"]
    others = [r for r in due if r["source"] != "test"]
    before = {r.row["id"]: r.row["status"] for r in reruns}
    tracked = {n for r in rows if r["source"] == "test" and (n := target_of(r))}
    targets = [r.nodeid for r in reruns if r.nodeid]
    if junit:  # each test reruns with the runner's own filter: no neighbours (each would cost RUNS more runs of the runner)
        neighbours: list[Neighbour] = []
        runs = junit_spot_check(ctx, reruns)
    else:
        neighbours = neighbours_of(previous_report(ctx), ctx.loaded.root, targets, tracked)
        runs = spot_check(ctx, reruns, neighbours)
    if reruns:
        apply(reruns)
        log.write(rows)
    ctx.artifacts.write_json(REGRESSION_DATA, summary_data(ctx, reruns, before, runs, others, neighbours, utc_now()))
    ctx.artifacts.write_text(REGRESSION_SUMMARY, summary_text(ctx, reruns, before, runs, others, neighbours))
    unfixed = [f"{r.row['id']} ({r.verdict})" for r in reruns if before[r.row["id"]] == "resolved" and r.verdict != RegressionVerdict.PASS]
    broken = [n.nodeid for n in neighbours if n.verdict == RegressionVerdict.FAIL]
    flaky = [n.nodeid for n in neighbours if n.verdict == "flaky"]
    if unfixed or broken:
        reasons = [f"{len(unfixed)} resolved defect(s) did not pass {RUNS}/{RUNS} reruns: {', '.join(unfixed)}"] if unfixed else []
        reasons += [f"{len(broken)} neighbour test(s) failed every rerun: {', '.join(broken)}"] if broken else []
        return Outcome.of(False, "; ".join(reasons))
    if not reruns:
        return Outcome.of(True, "nothing to rerun")
    note = f" with {len(neighbours)} neighbour(s)" + (f", flaky: {', '.join(flaky)}" if flaky else "") if neighbours else ""
    return Outcome.of(True, f"{len(reruns)} defect(s) rerun {RUNS} times{note}")

