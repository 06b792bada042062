"""JUnit XML of every check of a run, for the test views of GitHub, GitLab and Jenkins.

    write_junit(artifacts_dir, out)      # atomic; returns `out`
    JUnitWriter(outputs)                 # the handler: writes it when a run is published
    junit_xml(artifacts_dir) -> bytes

Suites, in protocol order: `environment` (step 1.2 probes), one `contract ...`
suite per contract (one case per interaction, mismatches in the failure
body), one `tests ...` suite per test module (pytest's classname/name
convention), and `gates` (one case per gate condition). A check that did not
run is a failure, never an absent case: a missing artifact becomes a failed
case named after it. The output follows the Jenkins/Ant JUnit schema: times
with at most three decimals, no attribute the schema does not know (built
with junitparser, statistics set here rather than by `update_statistics`,
which adds `skipped` to <testsuites>).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite

from interlock.artifacts import CONTRACT_RESULTS, ENVIRONMENT_REPORT, EXECUTION_REPORT, GATE_RESULTS, JUNIT_XML, atomic_write
from interlock.events import Emit, FileWritten
from interlock.history import OutputWriter
from interlock.runfolder import RunFolder
from interlock.statuses import CONDITION_NOT_MET, CheckStatus, GateStatus, HistoryOutcome, JUnitResult, TestOutcome
from interlock.store.records import contract_outcome, duration_of_test, execution_outcome

__all__ = ["junit_xml", "write_junit", "JUNIT_NAME", "JUnitWriter"]

JUNIT_NAME = JUNIT_XML.filename
TEXT_LIMIT = 20000
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")  # not allowed in XML 1.0
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _clean(text: Any, limit: int = TEXT_LIMIT) -> str:
    value = _ILLEGAL.sub("", _ANSI.sub("", "" if text is None else str(text)))
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _secs(ms: float | None) -> float:
    return round((ms or 0.0) / 1000.0, 3)


def _timestamp(value: str | None) -> str | None:
    """The Ant schema's timestamp: ISO 8601 without a zone (the artifacts' times are UTC)."""
    if not value:
        return None
    return value.replace("Z", "").split("+")[0].split(".")[0]


@dataclass
class _Case:
    classname: str
    name: str
    seconds: float = 0.0
    kind: JUnitResult = JUnitResult.PASS
    message: str = ""
    type: str = ""
    body: str = ""
    out: str = ""


@dataclass
class _Suite:
    name: str
    timestamp: str | None = None
    cases: list[_Case] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)


def _missing(suite: str, artifact: str, step: str) -> _Suite:
    return _Suite(suite, cases=[_Case(suite, artifact, kind=JUnitResult.FAILURE, type="not-run", message=f"{artifact} is missing: step {step} did not run",
                                      body="A check that did not run is a failed check (DESIGN.md: never certify without evidence).")])


def environment_suite(report: dict[str, Any] | None) -> _Suite:
    if report is None:
        return _missing("environment", ENVIRONMENT_REPORT.filename, ENVIRONMENT_REPORT.step)
    suite = _Suite("environment", _timestamp(report.get("finished_at") or report.get("generated_at")))
    for c in report["checks"]:
        case = _Case(f"environment.{c['kind']}", c["id"], _secs(c["duration_ms"]), out=f"target: {c['target']}" + (f"\n{c['reason']}" if c.get("reason") else ""))
        if c["status"] != CheckStatus.PASS:
            case.kind, case.type, case.message = JUnitResult.FAILURE, c["kind"], c.get("reason") or "failed"
            case.body = f"target: {c['target']}\n" + json.dumps(c.get("details") or {}, indent=2, sort_keys=True, default=str)
        suite.cases.append(case)
    return suite


def _mismatch_body(mismatches: list[dict[str, Any]]) -> str:
    lines = []
    for m in mismatches:
        lines.append(f"{m.get('type', 'mismatch')} at {m.get('path') or '(body)'}: {m.get('message', '')}")
        for side in ("expected", "actual"):
            if side in m:
                value = m[side] if isinstance(m[side], str) else json.dumps(m[side], sort_keys=True, default=str)
                lines.append(f"  {side}: {value}")
    return "\n".join(lines)


def contract_suites(results: dict[str, Any] | None) -> list[_Suite]:
    if results is None:
        return [_missing("contracts", CONTRACT_RESULTS.filename, CONTRACT_RESULTS.step)]
    suites = []
    stamp = _timestamp(results.get("generated_at"))
    for c in results["contracts"]:
        classname = "contracts." + c["id"].replace(".", "_")
        suite = _Suite(f"contract {c['id']}", stamp, properties={"kind": c["kind"], "consumer": c["consumer"], "provider": c["provider"], "source": c["source"]})
        items = c.get("interactions") or []
        if not items:
            items = [{"id": c["id"], "status": c["status"], "duration_ms": c["duration_ms"], "mismatches": [], "description": c["id"], "provider_states": []}]
        for i in items:
            outcome = contract_outcome(i["status"])
            case = _Case(classname, i["id"], _secs(i["duration_ms"]))
            if i.get("provider_states"):
                case.out = "given " + ", ".join(i["provider_states"])
            first = i["mismatches"][0]["message"] if i["mismatches"] else (c.get("reason") or i["status"])
            if outcome in (HistoryOutcome.FAIL, HistoryOutcome.NOT_RUN):
                case.kind, case.type = JUnitResult.FAILURE, ("not-executed" if outcome == HistoryOutcome.NOT_RUN else (i["mismatches"][0].get("type", "mismatch") if i["mismatches"] else "contract"))
                case.message = f"not executed: {c.get('reason') or 'the contract did not run'}" if outcome == HistoryOutcome.NOT_RUN else f"{len(i['mismatches'])} mismatch(es): {first}"
                case.body = _mismatch_body(i["mismatches"]) or (c.get("reason") or "")
            elif outcome == HistoryOutcome.ERROR:
                case.kind, case.type, case.message = JUnitResult.ERROR, "contract-error", first or "error"
                case.body = _mismatch_body(i["mismatches"]) or (c.get("reason") or "")
            elif outcome in (HistoryOutcome.PENDING, HistoryOutcome.SKIP):
                case.kind, case.message = JUnitResult.SKIPPED, "pending: not yet required of the provider"
            suite.cases.append(case)
        suites.append(suite)
    return suites


def _classname(nodeid: str) -> tuple[str, str, str]:
    """(module path, classname, name) of a pytest node id, like pytest's own --junitxml."""
    path, _, rest = nodeid.partition("::")
    parts = rest.split("::") if rest else [path]
    module = path.removesuffix(".py").replace("/", ".").replace("\\", ".")
    return path, ".".join([module, *parts[:-1]]), parts[-1]


def execution_suites(report: dict[str, Any] | None) -> list[_Suite]:
    if report is None:
        return [_missing("tests", EXECUTION_REPORT.filename, EXECUTION_REPORT.step)]
    failures = {f["nodeid"]: f for f in (report.get("interlock") or {}).get("failures", [])}
    created = report.get("created")
    stamp = None
    if isinstance(created, (int, float)):
        from datetime import datetime, timezone
        stamp = datetime.fromtimestamp(created, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    by_module: dict[str, _Suite] = {}
    for t in report.get("tests", []):
        path, classname, name = _classname(t["nodeid"])
        suite = by_module.setdefault(path, _Suite(f"tests {path}", stamp))
        outcome = execution_outcome(t["outcome"])
        case = _Case(classname, name, _secs(duration_of_test(t)))
        phase: dict[str, Any] = next((t[p] for p in ("setup", "call", "teardown") if isinstance(t.get(p), dict) and t[p].get("outcome") not in (None, TestOutcome.PASSED)), {})
        crash = (phase.get("crash") or {}).get("message") or failures.get(t["nodeid"], {}).get("message") or t["outcome"]
        longrepr = str(phase.get("longrepr") or crash)
        if outcome == HistoryOutcome.FAIL:
            case.kind, case.type, case.message, case.body = JUnitResult.FAILURE, "AssertionError" if "AssertionError" in crash else "failure", crash.splitlines()[0], longrepr
        elif outcome == HistoryOutcome.ERROR:
            case.kind, case.type, case.message, case.body = JUnitResult.ERROR, "error", crash.splitlines()[0], longrepr
        elif outcome == HistoryOutcome.SKIP:
            case.kind, case.message = JUnitResult.SKIPPED, (crash.splitlines()[0] if t["outcome"] != TestOutcome.SKIPPED else str(phase.get("longrepr") or "skipped"))
        info = failures.get(t["nodeid"])
        if info:
            case.out = f"rerun: {info['rerun']}" + (f"\ninterfaces: {', '.join(info['interfaces'])}" if info["interfaces"] else "") + ("\ncritical" if info["critical"] else "")
        suite.cases.append(case)
    if not by_module:  # 0 collected is a failed run (Gate 3), not an empty green suite
        return [_Suite("tests", stamp, cases=[_Case("tests", "collected tests", kind=JUnitResult.FAILURE, type="no-tests", message="the suite ran no test")])]
    return list(by_module.values())


def gate_suite(gates: dict[str, Any] | None, state: dict[str, Any]) -> _Suite:
    if gates is None:
        return _missing("gates", GATE_RESULTS.filename, GATE_RESULTS.step)
    suite = _Suite("gates", _timestamp(gates.get("generated_at")), properties={k: str(state[k]) for k in ("run_id", "environment") if state.get(k)})
    suite.properties["status"] = gates["status"]
    for g in gates["gates"]:
        classname = f"gates.gate{g['id']}_" + re.sub(r"\W+", "_", g["name"].lower()).strip("_")
        for c in g["conditions"]:
            rule = f"{c['metric']} {c['operator']} {c['threshold']} (actual {c['actual']}) from {c['artifact']}"
            case = _Case(classname, c["id"], out=rule)
            if c["status"] in CONDITION_NOT_MET:
                case.kind, case.message = JUnitResult.FAILURE, c.get("reason") or rule
                case.type = "gate-condition" if c["status"] == GateStatus.FAIL else "gate-condition-pending"
                case.body = rule
            elif c["status"] == GateStatus.WARN:
                case.out += f"\nwarning (non-blocking): {c.get('reason') or ''}"
            if c["waivers"]:
                case.out += "\nwaived: " + "; ".join(f"{w.get('ticket', '')} by {w.get('approver', '')} until {w.get('expires', '')}" for w in c["waivers"])
            suite.cases.append(case)
    return suite


def _build(suites: list[_Suite], name: str) -> JUnitXml:
    root = JUnitXml(_clean(name, 500))
    totals = {"tests": 0, "failures": 0, "errors": 0}
    total_seconds = 0.0
    for s in suites:
        suite = TestSuite(_clean(s.name, 500))
        for key, value in s.properties.items():
            suite.add_property(_clean(key, 200), _clean(value, 2000))
        counts = {"failure": 0, "error": 0, "skipped": 0}
        seconds = 0.0
        for c in s.cases:
            case = TestCase(_clean(c.name, 1000), _clean(c.classname, 1000), c.seconds)
            if c.kind == JUnitResult.FAILURE:
                result: Any = Failure(_clean(c.message, 2000).strip(), _clean(c.type, 200))
            elif c.kind == JUnitResult.ERROR:
                result = Error(_clean(c.message, 2000).strip(), _clean(c.type, 200))
            elif c.kind == JUnitResult.SKIPPED:
                result = Skipped(_clean(c.message, 2000).strip())
            else:
                result = None
            if result is not None:
                if c.body and c.kind != JUnitResult.SKIPPED:
                    result.text = _clean(c.body)
                case.result = [result]
                counts[c.kind] += 1
            if c.out:
                case.system_out = _clean(c.out)
            seconds += c.seconds
            suite.add_testcase(case)
        suite.tests, suite.failures, suite.errors, suite.skipped = len(s.cases), counts["failure"], counts["error"], counts["skipped"]
        suite.time = round(seconds, 3)
        if s.timestamp:
            suite.timestamp = s.timestamp
        root.add_testsuite(suite)
        totals["tests"] += len(s.cases)
        totals["failures"] += counts["failure"]
        totals["errors"] += counts["error"]
        total_seconds += seconds
    root.tests, root.failures, root.errors, root.time = totals["tests"], totals["failures"], totals["errors"], round(total_seconds, 3)
    return root


def junit_xml(artifacts_dir: Path | RunFolder) -> bytes:
    """The JUnit XML document (UTF-8, with declaration) of the run in `artifacts_dir`."""
    folder = RunFolder.load(artifacts_dir)
    state = folder.state
    suites = [
        environment_suite(folder.json(ENVIRONMENT_REPORT)),
        *contract_suites(folder.json(CONTRACT_RESULTS)),
        *execution_suites(folder.json(EXECUTION_REPORT)),
        gate_suite(folder.json(GATE_RESULTS), state),
    ]
    label = "interlock" + (f" {state['environment']}" if state.get("environment") else "") + (f" run {state['run_id']}" if state.get("run_id") else "")
    body: bytes = _build(suites, label).tostring()
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body + b"\n"


def write_junit(artifacts_dir: Path | RunFolder, out: Path) -> Path:
    """Write the run's JUnit XML to `out` atomically; returns `out`."""
    atomic_write(out, junit_xml(artifacts_dir))
    return out


class JUnitWriter(OutputWriter):
    """Handler of the event stream: writes the published run's JUnit XML beside its artifacts."""

    failure = "JUnit XML not written"

    def write(self, run: RunFolder, emit: Emit) -> None:
        emit(FileWritten("junit", str(write_junit(run, run.root / JUNIT_NAME))))
