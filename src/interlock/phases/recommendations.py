"""Step 4.3: forward recommendations for Protocols 4, 10 and 12, derived from the evidence.

Every item names the artifact it came from, and a section with nothing to say
says what it checked, so a reader can tell "checked, found nothing" from
"never checked" (a missing artifact is reported as not checked). The step runs
before the bundle (4.1), so the bundle holds it. `recommendations` is pure
(evidence in, Markdown out, no clock: `now` is part of the evidence); `run`
only reads the artifact folder (once, through `RunFolder`) and writes the file.
Observability and regression findings come from the JSON twins of their
Markdown (never from parsing interlock's own Markdown); items cite the
Markdown, the record a reader opens.
"""

from __future__ import annotations

import re
from functools import partial
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from interlock.artifacts import (
    BY_FILENAME, CONTRACT_RESULTS, DEFECT_LOG, ENVIRONMENT_REPORT, EXECUTION_REPORT, OBSERVABILITY as OBSERVABILITY_ARTIFACT,
    OBSERVABILITY_DATA, RECOMMENDATIONS, REGRESSION_DATA, REGRESSION_SUMMARY, SCOPE_MATRIX, TRACE_EVIDENCE,
)
from interlock.errors import UsageError
from interlock.statuses import CheckStatus, RegressionVerdict, StepStatus
from interlock.protocol import Outcome
from interlock.context import RunContext
from interlock.runfolder import RunFolder

SCOPE, ENV, CONTRACTS = SCOPE_MATRIX.filename, ENVIRONMENT_REPORT.filename, CONTRACT_RESULTS.filename
TESTS, DEFECTS, TRACES = EXECUTION_REPORT.filename, DEFECT_LOG.filename, TRACE_EVIDENCE.filename
#: Evidence keys of the two Markdown records: their JSON twins, read instead of the Markdown.
OBSERVABILITY, REGRESSION = OBSERVABILITY_DATA.filename, REGRESSION_DATA.filename
#: The Markdown a twin's findings cite and a missing twin is reported as.
CITED = {OBSERVABILITY: OBSERVABILITY_ARTIFACT.filename, REGRESSION: REGRESSION_SUMMARY.filename}
OUTPUT, CONFIG = RECOMMENDATIONS.filename, "interlock.toml"
WAIVER_HORIZON = timedelta(days=14)
SLOWEST = 5
#: The check kind step 1.2 gives comparisons with the environment baseline: their failure is drift.
DRIFT_KIND = "baseline"
SIGNALS = ("Logs", "Metrics", "Traces")
# A readiness cell that says the signal is absent (an empty cell is no evidence either).
_LACKING = re.compile(r"^(?:no\b|none|missing|absent|false|fail|not\b|n/?a\b|[-—–❌✗✘]|$)", re.IGNORECASE)
_CONTRACT_ADVICE = {
    "fail": "failed: {detail}; fix the provider or renegotiate the contract with {consumer}",
    "error": "could not be verified: {detail}; repair the verification setup and rerun `interlock contracts`",
    "pending": "is pending, which is not a pass; confirm it and make it a required contract before release",
    "not_executed": "was not executed: {detail}; rerun `interlock contracts`",
}

Evidence = dict[str, Any]
Finding = tuple[list[str], str]  # (items, the line saying what was checked when there is none)


def _cite(text: str, *sources: str) -> str:
    return f"{text} (source: {', '.join(f'`{s}`' for s in sources)})"


def _nothing(checked: str, *sources: str) -> str:
    return _cite(f"Checked {checked}: nothing found.", *sources)


def _first_line(text: str | None, limit: int = 200) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else "no message"
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _unavailable(ev: Evidence, filename: str) -> list[str]:
    """The item saying why `filename` (or the Markdown a twin stands for) could not be checked; empty when it was read."""
    if filename in ev["errors"]:
        why = f"could not be read ({ev['errors'][filename]})"
    elif ev["artifacts"].get(filename) is None:
        why = "is missing: its step did not run"
    else:
        return []
    art, shown = BY_FILENAME[filename], CITED.get(filename, filename)
    return [_cite(f"**Not checked**: `{shown}` {why}; run `{art.command}` (step {art.step}) before the handoff.", shown)]


def _uncovered(ev: Evidence) -> Finding:
    if gap := _unavailable(ev, SCOPE):
        return gap, ""
    scope = ev["artifacts"][SCOPE]
    items = [_cite(f"`{i}` has no contract or test; add a pact interaction or a test marked "
                   f"`@pytest.mark.interface(\"{i}\")`.", SCOPE) for i in scope["uncovered"]]
    return items, _nothing(f"the {len(scope['interfaces'])} interfaces of the scope matrix for one without a check", SCOPE)


def _contracts(ev: Evidence) -> Finding:
    if gap := _unavailable(ev, CONTRACTS):
        return gap, ""
    contracts = ev["artifacts"][CONTRACTS]["contracts"]
    items = []
    for contract in contracts:
        if not contract["interactions"]:
            items.append(_cite(f"Contract `{contract['id']}` has no interaction ({contract['reason'] or contract['status']}); "
                               "regenerate it with its consumer.", CONTRACTS))
        for inter in contract["interactions"]:
            if inter["status"] in _CONTRACT_ADVICE:
                detail = inter["mismatches"][0]["message"] if inter["mismatches"] else contract["reason"] or "no reason recorded"
                advice = _CONTRACT_ADVICE[inter["status"]].format(detail=_first_line(detail), consumer=contract["consumer"])
                items.append(_cite(f"`{inter['id']}` {advice}.", CONTRACTS))
    total = sum(len(c["interactions"]) for c in contracts)
    return items, _nothing(f"the {total} interactions of {len(contracts)} contracts for failed, pending or unexecuted ones", CONTRACTS)


def _flaky_neighbours(summary: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The neighbours of the regression reruns whose verdict is flaky (regression-summary.json)."""
    return [n for n in (summary or {}).get("neighbours", []) if n["verdict"] == "flaky"]


def _tests(ev: Evidence) -> Finding:
    items = _unavailable(ev, TESTS) + _unavailable(ev, DEFECTS) + _unavailable(ev, REGRESSION)
    ran = 0
    if report := ev["artifacts"].get(TESTS):
        summary = report["interlock"]["summary"]
        ran = summary["passed"] + summary["failed"] + summary["errors"]
        if ran == 0:
            items.append(_cite(f"The suite ran no test ({summary['total']} collected, none run); fix the selection before the audit.", TESTS))
        for failure in report["interlock"]["failures"]:
            critical = " (critical)" if failure["critical"] else ""
            items.append(_cite(f"`{failure['nodeid']}` {failure['outcome']}{critical}: {_first_line(failure['message'])}; "
                               f"rerun with `{failure['rerun']}`.", TESTS))
    for row in ev["artifacts"].get(DEFECTS) or []:
        if row["source"] == "flaky" and row["status"] in ("open", "mitigated"):
            items.append(_cite(f"`{row['id']}` ({row['title']}) is flaky across runs: {_first_line(row['message'])}; "
                               f"quarantine or fix it, then `{row['rerun']}` on one commit until it stops flipping.", DEFECTS))
        elif row["regression"] == RegressionVerdict.FAIL:
            items.append(_cite(f"`{row['id']}` ({row['title']}) failed again after it was resolved: treat it as flaky "
                               f"until `{row['rerun'] or 'its rerun'}` passes repeatedly.", DEFECTS))
        elif row["regression"] == RegressionVerdict.FLAKY:
            items.append(_cite(f"`{row['id']}` ({row['title']}) is flaky: its regression reruns passed only some of the time; "
                               f"find the cause before the audit relies on `{row['rerun'] or 'its rerun'}`.", DEFECTS))
    for neighbour in _flaky_neighbours(ev["artifacts"].get(REGRESSION)):
        items.append(_cite(f"`{neighbour['nodeid']}` ({neighbour['why']}) is flaky: {', '.join(neighbour['outcomes'])} in the regression reruns; "
                           "quarantine or fix it.", CITED[REGRESSION]))
    return items, _nothing(f"the {ran} tests that ran, the run history's flaky checks, the defects' regression reruns and their neighbours for failed or flaky ones",
                           TESTS, DEFECTS, CITED[REGRESSION])


def _defects(ev: Evidence) -> Finding:
    if gap := _unavailable(ev, DEFECTS):
        return gap, ""
    rows = ev["artifacts"][DEFECTS]
    items = []
    for row in rows:
        if row["status"] in ("open", "mitigated"):
            plan = f"; mitigation: {_first_line(row['mitigation'])}" if row["mitigation"].strip() else "; no mitigation plan yet"
            ticket = f", ticket {row['ticket']}" if row["ticket"] else ""
            items.append(_cite(f"`{row['id']}` {row['severity']}, {row['status']}, owner {row['owner'] or 'unassigned'}{ticket}: "
                               f"{row['title']}{plan}.", DEFECTS))
    return items, _nothing(f"the {len(rows)} defects of the log for open or mitigated ones", DEFECTS)


def _defect_waivers(ev: Evidence) -> list[dict[str, Any]]:
    """The defect log's waivers (status waived, with an expiry), in the shape of the config's; unparsable expiries are skipped."""
    found = []
    for row in ev["artifacts"].get(DEFECTS) or []:
        if row["status"] != "waived":
            continue
        try:
            expires = datetime.fromisoformat(row["waiver_expires"].replace("Z", "+00:00"))
        except ValueError:
            continue
        if expires.tzinfo is not None:
            found.append({"target": row["id"], "ticket": row["ticket"] or "none", "approver": row["waiver_approver"] or "nobody",
                          "expires": expires, "source": DEFECTS})
    return found


def _waivers(ev: Evidence) -> Finding:
    now, items = ev["now"], []
    waivers = [{**w, "source": CONFIG} for w in ev["waivers"]] + _defect_waivers(ev)
    for waiver in sorted(waivers, key=lambda w: (w["expires"], w["target"])):
        left, day = waiver["expires"] - now, waiver["expires"].date().isoformat()
        what = f"Waiver for `{waiver['target']}` (ticket {waiver['ticket']}, approved by {waiver['approver']})"
        if left <= timedelta(0):
            items.append(_cite(f"{what} expired on {day} and no longer counts; fix `{waiver['target']}` or renew it.", waiver["source"]))
        elif left <= WAIVER_HORIZON:
            items.append(_cite(f"{what} expires on {day}, in {left.days} day(s); fix `{waiver['target']}` or renew it before then.",
                               waiver["source"]))
    return items, _nothing(f"the {len(waivers)} waivers of the config and the defect log for one expiring within "
                           f"{WAIVER_HORIZON.days} days", CONFIG, DEFECTS)


def _environment(drift: bool) -> Callable[[Evidence], Finding]:
    """Failed reachability checks (drift False) or failed baseline checks (drift True)."""

    def find(ev: Evidence) -> Finding:
        if gap := _unavailable(ev, ENV):
            return gap, ""
        checks = [c for c in ev["artifacts"][ENV]["checks"] if (c["kind"] == DRIFT_KIND) == drift]
        items = []
        for check in (c for c in checks if c["status"] != CheckStatus.PASS):
            if drift:
                text = f"`{check['id']}` ({check['kind']}) diverges from the baseline: {_first_line(check['reason'])}; restore parity with Protocol 7's baseline."
            else:
                text = f"`{check['id']}` ({check['kind']}, {check['target']}) failed: {_first_line(check['reason'])}; fix it and rerun `interlock env`."
            items.append(_cite(text, ENV))
        what = "baseline checks" if drift else "connectivity and setup checks"
        return items, _nothing(f"the {len(checks)} {what} for a failure", ENV)

    return find


def _slowest(ev: Evidence) -> Finding:
    if gap := _unavailable(ev, ENV):
        return gap, ""
    probes = [c for c in ev["artifacts"][ENV]["checks"] if c["kind"] != DRIFT_KIND]  # comparisons, not probes
    checks = sorted(probes, key=lambda c: c["duration_ms"], reverse=True)[:SLOWEST]
    items = [_cite(f"`{c['id']}` ({c['kind']}, {c['target']}) took {c['duration_ms']:.0f} ms ({c['status']}); size "
                   "readiness timeouts and latency alerts from it.", ENV) for c in checks]
    return items, _nothing("the environment report for probes and their durations", ENV)


def _observability(ev: Evidence) -> Finding:
    if gap := _unavailable(ev, OBSERVABILITY):
        return ["Observability readiness was not recorded. " + gap[0]], ""
    shown = CITED[OBSERVABILITY]
    rows = ev["artifacts"][OBSERVABILITY]["services"]
    items = []
    for row in rows:
        cells = {s: str(row[s.lower()]) for s in SIGNALS}
        lacking = [f"{s.lower()} ({_first_line(cell) if cell else 'not recorded'})"
                   for s, cell in cells.items() if _LACKING.match(cell.strip("`*_ "))]
        if lacking:
            items.append(_cite(f"`{row['service']}` lacks {'; '.join(lacking)}: instrument it and alert on it before "
                               "runtime monitoring relies on it.", shown))
    recorded = {row["service"] for row in rows}
    scope = ev["artifacts"].get(SCOPE) or {"services": []}
    items += [_cite(f"Readiness of `{s['name']}` was not recorded; add it to the table.", shown, SCOPE)
              for s in scope["services"] if s["name"] not in recorded]
    return items, _nothing(f"logs, metrics and traces of the {len(rows)} services in the readiness table", shown)


def _undeclared(ev: Evidence) -> Finding:
    """Interfaces called in traced traffic that no contract or test declares: the caller and where they were seen."""
    if gap := _unavailable(ev, TRACES):
        return gap, ""
    evidence = ev["artifacts"][TRACES]
    if evidence["receiver"] is None:
        return [_cite("**Not checked**: no trace was received (the OTLP receiver was off, or wrote no counters), so undeclared "
                      "dependencies are unknown; turn `[observability] receiver` on and instrument the services.", TRACES)], ""
    items = []
    for found in evidence["undeclared"]:
        caller = f"`{found['from']}`" if found["from"] else "an unknown caller"
        seen = ", ".join(f"`{s}`" for s in found["seen_in"]) or "traffic between services"
        items.append(_cite(f"`{found['interface']}` is called by {caller} ({found['reason']}), seen in {seen}; add a contract or a test "
                           f"marked `@pytest.mark.interface(\"{found['interface']}\")`, or remove the call.", TRACES))
    observed = sum(1 for i in evidence["interfaces"] if i["observed"])
    return items, _nothing(f"the calls of {len(evidence['tests'])} tests' and {len(evidence['pact_jobs'])} pact jobs' traces "
                           f"({observed} interfaces observed) for one no contract or test declares", TRACES)


def _unproven(ev: Evidence) -> Finding:
    """Critical feature scenarios no passing test's trace proved, with what the closest test missed."""
    if gap := _unavailable(ev, TRACES):
        return gap, ""
    scenarios = ev["artifacts"][TRACES]["scenarios"]
    items = []
    for row in (r for r in scenarios if r["critical"] and not r["proven"]):
        missing = ", ".join(f"`{m}`" for m in row["missing"]) or "every interface (no passing test's trace)"
        items.append(_cite(f"Critical scenario `{row['feature']}` ({row['title']}) is not proven by a trace: missing {missing}; "
                           "make one of its tests cross every interface it lists, with tracing on.", TRACES))
    critical = sum(1 for r in scenarios if r["critical"])
    return items, _nothing(f"the {critical} critical of {len(scenarios)} feature scenarios for one no test's trace proved", TRACES)


_SECTIONS: tuple[tuple[str, str, tuple[tuple[str, Callable[[Evidence], Finding]], ...]], ...] = (
    ("Protocol 4 (Quality Audit)", "Automation gaps and open risks the audit should see closed or accepted.", (
        ("Uncovered interfaces", _uncovered),
        ("Contract failures and pending interactions", _contracts),
        ("Failed and flaky tests", _tests),
        ("Open defects", _defects),
        ("Undeclared dependencies seen in traces", _undeclared),
        ("Unproven critical scenarios", _unproven),
        (f"Waivers expiring within {WAIVER_HORIZON.days} days", _waivers),
    )),
    ("Protocol 10 (Pre-Deployment)", "Environment improvements to make before a staging or production deploy.", (
        ("Failed environment checks", _environment(drift=False)),
        ("Environment drift", _environment(drift=True)),
        ("Slowest environment probes", _slowest),
    )),
    ("Protocol 12 (Runtime monitoring)", "Monitoring hooks and alert coverage the running system needs.", (
        ("Services lacking logs, metrics or traces", _observability),
    )),
)


def recommendations(evidence: Evidence) -> str:
    """The Markdown of forward-recommendations.md; same evidence, same text."""
    project = evidence["project"]
    name = f"{project['name']} {project['version']}" if project.get("version") else project["name"]
    lines = ["# Forward recommendations", "",
             f"Project {name}, environment `{evidence['environment']}`, run `{evidence['run_id']}`. Every item is derived "
             "from the evidence in this folder and names the artifact it came from.", ""]
    for protocol, purpose, parts in _SECTIONS:
        lines += [f"## {protocol}", "", purpose, ""]
        for title, find in parts:
            items, nothing = find(evidence)
            lines += [f"### {title}", "", *(f"- {item}" for item in items or [nothing]), ""]
    return "\n".join(lines)


def gather(ctx: RunContext, folder: RunFolder | None = None) -> Evidence:
    """Read the evidence from the artifact folder (once) and the config; an unreadable artifact is recorded, not raised."""
    folder = folder or RunFolder.load(ctx.artifacts)
    readers: dict[str, Callable[[], Any]] = {name: partial(folder.json, name) for name in (SCOPE, ENV, CONTRACTS, TESTS, OBSERVABILITY, REGRESSION, TRACES)}
    readers[DEFECTS] = lambda: folder.defects
    artifacts: dict[str, Any] = dict.fromkeys(readers)
    errors: dict[str, str] = {}
    for name, read in readers.items():
        if not folder.exists(name):
            continue
        try:
            artifacts[name] = read()
        except UsageError as exc:
            errors[name] = exc.problems[0].message
    project = ctx.config.project
    return {
        "project": {"name": project.name, "version": project.version}, "environment": ctx.env_name, "run_id": ctx.run_id,
        "now": datetime.now(timezone.utc), "waivers": [{**w.model_dump(), "target": w.condition + (f" {w.item}" if w.item else "")} for w in ctx.config.waivers],
        "artifacts": artifacts, "errors": errors,
    }


def run(ctx: RunContext) -> Outcome:
    """Write forward-recommendations.md from the evidence present."""
    evidence = gather(ctx)
    ctx.artifacts.write_text(OUTPUT, recommendations(evidence))
    found = sum(1 for content in evidence["artifacts"].values() if content is not None)
    return Outcome(StepStatus.PASS, f"derived from {found} of {len(evidence['artifacts'])} evidence artifacts")
