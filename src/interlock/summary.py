"""A Markdown gate summary for CI job pages (`$GITHUB_STEP_SUMMARY`, GitLab/Jenkins descriptions).

    github_summary(artifacts_dir) -> str
    append_step_summary(artifacts_dir) -> bool     # appends when $GITHUB_STEP_SUMMARY is set
    StepSummaryWriter(outputs)                     # the handler: appends it when a run is published

Only what a reviewer needs at a glance: the verdict, the four gates, every
failing condition with its reason, and the counts of each kind of check,
with the first failures named. Missing artifacts are said, never hidden.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from interlock.artifacts import CONTRACT_RESULTS, ENVIRONMENT_REPORT, EXECUTION_REPORT, GATE_RESULTS
from interlock.events import Emit
from interlock.history import OutputWriter
from interlock.runfolder import RunFolder
from interlock.statuses import CONDITION_NOT_MET, CheckStatus, GateStatus, HistoryOutcome
from interlock.store.records import contract_outcome, execution_outcome

__all__ = ["StepSummaryWriter", "append_step_summary", "github_summary"]

LISTED = 15
ICON = {"pass": "✅", "fail": "❌", "warn": "⚠️", "pending": "⏳"}


def _cell(text: Any) -> str:
    """Safe inside a Markdown table cell: no pipes, no line breaks, bounded."""
    value = " ".join(str("" if text is None else text).split()).replace("|", "\\|")
    return value if len(value) <= 300 else value[:299] + "…"


def github_summary(artifacts_dir: Path | RunFolder) -> str:
    run = RunFolder.load(artifacts_dir)
    gates, env_report, contracts, tests = (run.json(a) for a in (GATE_RESULTS, ENVIRONMENT_REPORT, CONTRACT_RESULTS, EXECUTION_REPORT))
    state, defects = run.state, run.defects

    status = (gates or {}).get("status", GateStatus.FAIL)
    where = " · ".join(x for x in (f"environment `{state['environment']}`" if state.get("environment") else "", f"run `{state['run_id']}`" if state.get("run_id") else "") if x)
    lines = [f"## {ICON.get(status, '❌')} interlock: integration validation {'PASSED' if status == GateStatus.PASS else 'FAILED'}", ""]
    if where:
        lines += [where, ""]
    if gates is None:
        lines += ["❌ `gate-results.json` is missing: the gates were not evaluated, so nothing is certified.", ""]
    else:
        lines += ["| Gate | Status | Failing conditions |", "|---|---|---|"]
        for g in gates["gates"]:
            failing = [c["id"] for c in g["conditions"] if c["status"] in CONDITION_NOT_MET]
            lines.append(f"| {g['id']} · {_cell(g['name'])} | {ICON.get(g['status'], '❌')} {g['status']} | {_cell(', '.join(failing)) or '—'} |")
        lines.append("")
        bad = [(g, c) for g in gates["gates"] for c in g["conditions"] if c["status"] in CONDITION_NOT_MET | {GateStatus.WARN}]
        if bad:
            lines.append("**Conditions not met**")
            lines.append("")
            for g, c in bad:
                rule = f"{c['metric']} is {c['actual']}, needs {c['operator']} {c['threshold']}"
                lines.append(f"- {ICON[c['status']]} Gate {g['id']} `{c['id']}`: {_cell(c['reason'] or rule)}")
            lines.append("")
        waived = [(g, c) for g in gates["gates"] for c in g["conditions"] if c["waivers"]]
        for g, c in waived:
            w = c["waivers"][0]
            lines.append(f"- ⚠️ Gate {g['id']} `{c['id']}` waived: {_cell(w.get('justification', ''))} ({_cell(w.get('ticket', ''))}, {_cell(w.get('approver', ''))}, until {_cell(w.get('expires', ''))})")
        if waived:
            lines.append("")

    lines += ["| Checks | Total | Passed | Failed |", "|---|---:|---:|---:|"]
    failures: list[str] = []
    if env_report is None:
        lines.append("| Environment | — | — | not run |")
    else:
        s = env_report["summary"]
        lines.append(f"| Environment | {s['total']} | {s['passed']} | {s['failed']} |")
        failures += [f"environment `{c['id']}`: {_cell(c['reason'])}" for c in env_report["checks"] if c["status"] != CheckStatus.PASS]
    if contracts is None:
        lines.append("| Contracts | — | — | not run |")
    else:
        s = contracts["summary"]
        lines.append(f"| Contract items | {s['interactions']} | {s['passed']} | {s['failed'] + s['errors'] + s['not_executed']} |")
        for c in contracts["contracts"]:
            for i in c.get("interactions") or []:
                if contract_outcome(i["status"]) in (HistoryOutcome.FAIL, HistoryOutcome.ERROR, HistoryOutcome.NOT_RUN):
                    first = i["mismatches"][0] if i["mismatches"] else {"message": c.get("reason") or i["status"]}
                    path = f" at `{_cell(first['path'])}`" if first.get("path") else ""
                    failures.append(f"contract `{_cell(i['id'])}` ({c['consumer']} → {c['provider']}){path}: {_cell(first['message'])}")
    if tests is None:
        lines.append("| Tests | — | — | not run |")
    else:
        outcomes = [execution_outcome(t["outcome"]) for t in tests.get("tests", [])]
        lines.append(f"| Tests | {len(outcomes)} | {outcomes.count('pass')} | {outcomes.count('fail') + outcomes.count('error')} |")
        failures += [f"test `{_cell(f['nodeid'])}`: {_cell(f['message'])}" for f in (tests.get("interlock") or {}).get("failures", [])]
    open_defects = [d for d in defects if d["status"] == "open"]
    lines.append(f"| Open defects | {len(open_defects)} | | {sum(1 for d in open_defects if d['severity'] == 'critical')} critical |")
    lines.append("")
    if failures:
        lines.append(f"**Failures** ({len(failures)})")
        lines.append("")
        lines += [f"- {f}" for f in failures[:LISTED]]
        if len(failures) > LISTED:
            lines.append(f"- … and {len(failures) - LISTED} more (see the JUnit report and `integration-report.html`)")
        lines.append("")
    return "\n".join(lines) + "\n"


def append_step_summary(artifacts_dir: Path | RunFolder) -> bool:
    """Append the summary to the file named by `$GITHUB_STEP_SUMMARY`; False (and nothing written) when it is unset."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return False
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(github_summary(artifacts_dir))
    return True


class StepSummaryWriter(OutputWriter):
    """Handler of the event stream: appends the published run's summary to the CI job page, when the CI names one."""

    failure = "step summary not written"

    def write(self, run: RunFolder, emit: Emit) -> None:
        append_step_summary(run)
