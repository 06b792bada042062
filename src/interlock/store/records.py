"""What one run leaves in the history, read from its artifact folder.

`load_run` turns an artifact folder into a `RunRecord` (plain data); the store
writes records and answers questions with the other dataclasses here. Every
check of a run (an environment probe, a contract item, a test) becomes one
`CheckResult` with a normalised outcome, so flakiness and pass rates are the
same computation for all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from interlock.artifacts import STATE_FILE
from interlock.defects import Failure
from interlock.errors import Problem, UsageError
from interlock.runfolder import RunFolder
from interlock.statuses import CheckStatus, HistoryOutcome, TestOutcome

# Normalised outcomes. A check that did not run is `not_run` and counts as a
# failure in pass rates (DESIGN: never a pass); flakiness needs a real `fail`
# or `error` beside a `pass` on the same commit.
PASS, FAIL, ERROR, SKIP, PENDING, NOT_RUN = HistoryOutcome
OUTCOMES = (PASS, FAIL, ERROR, SKIP, PENDING, NOT_RUN)
FAILING = (FAIL, ERROR)
CATEGORIES = ("environment", "contract", "test")
MESSAGE_LIMIT = 2000

_TEST_OUTCOMES = {"passed": PASS, "xpassed": PASS, "failed": FAIL, "error": ERROR, "skipped": SKIP, "xfailed": SKIP, "deselected": SKIP}
_CONTRACT_OUTCOMES = {"pass": PASS, "fail": FAIL, "error": ERROR, "pending": PENDING, "not_executed": NOT_RUN}
_RANK: dict[str, int] = {ERROR: 5, FAIL: 4, NOT_RUN: 3, PASS: 2, PENDING: 1, SKIP: 0}

def execution_outcome(raw: str) -> str:
    return _TEST_OUTCOMES.get(raw, ERROR)


def contract_outcome(raw: str) -> str:
    return _CONTRACT_OUTCOMES.get(raw, ERROR)


def utc_text(value: datetime | str | None) -> str | None:
    """A timestamp as `YYYY-MM-DDTHH:MM:SSZ` (UTC), the one form the store keeps (it sorts as text)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class CheckResult:
    """One check of one run. `key` is unique within its category across runs (the check's identity)."""

    category: str
    key: str
    name: str
    group: str
    outcome: str
    duration_ms: float | None
    message: str | None = None


@dataclass(frozen=True)
class ConditionRecord:
    gate_id: int
    id: str
    metric: str
    operator: str
    threshold: float | None
    actual: float | None
    blocking: bool
    raw_status: str
    status: str
    artifact: str
    reason: str | None
    waived: bool


@dataclass(frozen=True)
class GateRecord:
    id: int
    name: str
    status: str


@dataclass(frozen=True)
class DefectRecord:
    id: str
    fingerprint: str
    source: str
    title: str
    severity: str
    owner: str
    status: str
    ticket: str
    occurrences: int
    message: str


@dataclass
class RunRecord:
    """Everything the history keeps of one run."""

    run_id: str
    environment: str
    git_commit: str | None
    started_at: str | None
    finished_at: str | None
    status: str
    project: str = ""
    gates: list[GateRecord] = field(default_factory=list)
    conditions: list[ConditionRecord] = field(default_factory=list)
    results: list[CheckResult] = field(default_factory=list)
    defects: list[DefectRecord] = field(default_factory=list)

    @property
    def duration_s(self) -> float | None:
        if not self.started_at or not self.finished_at:
            return None
        start = datetime.fromisoformat(self.started_at.replace("Z", "+00:00"))
        end = datetime.fromisoformat(self.finished_at.replace("Z", "+00:00"))
        return max((end - start).total_seconds(), 0.0)

    def counts(self) -> dict[str, int]:
        """The per-run numbers the trends need, kept on the run row so trends never scan results."""
        out = {f"{c}_{k}": 0 for c in ("tests", "contracts", "environment") for k in ("total", "passed", "failed", "skipped")}
        prefix = {"test": "tests", "contract": "contracts", "environment": "environment"}
        for r in self.results:
            p = prefix[r.category]
            out[f"{p}_total"] += 1
            if r.outcome == PASS:
                out[f"{p}_passed"] += 1
            elif r.outcome in (FAIL, ERROR, NOT_RUN):
                out[f"{p}_failed"] += 1
            else:
                out[f"{p}_skipped"] += 1
        out["defects_open"] = sum(1 for d in self.defects if d.status == "open")
        return out


@dataclass(frozen=True)
class RunSummary:
    """A recorded run as the history lists it."""

    run_id: str
    environment: str
    git_commit: str | None
    started_at: str | None
    finished_at: str | None
    duration_s: float | None
    status: str
    project: str
    tests_total: int
    tests_passed: int
    tests_failed: int
    tests_skipped: int
    contracts_total: int
    contracts_passed: int
    contracts_failed: int
    environment_failed: int
    defects_open: int
    gates: tuple[tuple[int, str], ...] = ()

    @property
    def test_pass_rate(self) -> float | None:
        ran = self.tests_passed + self.tests_failed
        return self.tests_passed / ran if ran else None

    @property
    def contract_pass_rate(self) -> float | None:
        ran = self.contracts_passed + self.contracts_failed
        return self.contracts_passed / ran if ran else None


@dataclass(frozen=True)
class FlakyCheck:
    """A check that both passed and failed (or errored) on the same commit."""

    category: str
    key: str
    name: str
    git_commit: str
    passed: int
    failed: int
    last_run_id: str
    last_outcome: str


@dataclass(frozen=True)
class TrendPoint:
    """One run on the trend charts (oldest first)."""

    run_id: str
    started_at: str | None
    git_commit: str | None
    status: str
    test_pass_rate: float | None
    contract_pass_rate: float | None
    duration_s: float | None
    flaky: int
    defects_open: int


# --------------------------------------------------------------------------- reading artifacts


def _clip(text: str | None) -> str | None:
    if not text:
        return None
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def mismatch_text(mismatches: list[dict[str, Any]]) -> str:
    return "; ".join(f"{m['path']}: {m['message']}" if m.get("path") else str(m.get("message", "")) for m in mismatches)


def contract_key(contract_id: str, item_id: str | None) -> str:
    return contract_id if item_id is None else f"{contract_id} :: {item_id}"


def environment_results(report: Mapping[str, Any] | None) -> list[CheckResult]:
    if not report:
        return []
    return [
        CheckResult("environment", c["id"], c["id"], c["kind"], PASS if c["status"] == CheckStatus.PASS else FAIL, float(c["duration_ms"]), _clip(c["reason"]) if c["status"] != CheckStatus.PASS else None)
        for c in report.get("checks", [])
    ]


def contract_results(results: Mapping[str, Any] | None) -> list[CheckResult]:
    if not results:
        return []
    out = []
    for c in results.get("contracts", []):
        items = c.get("interactions") or []
        if not items:  # a contract that produced no items still counts: it is one check
            outcome = contract_outcome(c["status"])
            out.append(CheckResult("contract", contract_key(c["id"], None), c["id"], c["id"], outcome, float(c["duration_ms"]), _clip(c.get("reason")) if outcome != PASS else None))
            continue
        for i in items:
            outcome = contract_outcome(i["status"])
            message = None
            if outcome != PASS:
                message = _clip(mismatch_text(i["mismatches"]) or c.get("reason") or i["status"])
            out.append(CheckResult("contract", contract_key(c["id"], i["id"]), i["description"], c["id"], outcome, float(i["duration_ms"]), message))
    return out


def duration_of_test(test: dict[str, Any]) -> float | None:
    phases = [test[p]["duration"] for p in ("setup", "call", "teardown") if isinstance(test.get(p), dict) and "duration" in test[p]]
    return round(sum(phases) * 1000.0, 3) if phases else None


def message_of_test(test: dict[str, Any], fallback: dict[str, str]) -> str | None:
    for phase in ("call", "setup", "teardown"):
        data = test.get(phase)
        if isinstance(data, dict) and data.get("outcome") not in (None, TestOutcome.PASSED):
            crash = data.get("crash") or {}
            if crash.get("message"):
                return _clip(crash["message"])
            if data.get("longrepr"):
                return _clip(str(data["longrepr"]).strip().splitlines()[-1])
    return _clip(fallback.get(test["nodeid"]))


def execution_results(report: Mapping[str, Any] | None) -> list[CheckResult]:
    if not report:
        return []
    fallback = {f["nodeid"]: f["message"] for f in (report.get("interlock") or {}).get("failures", [])}
    out = []
    for t in report.get("tests", []):
        outcome = execution_outcome(t["outcome"])
        nodeid = t["nodeid"]
        out.append(CheckResult("test", nodeid, nodeid.split("::", 1)[-1], nodeid.split("::", 1)[0], outcome, duration_of_test(t), message_of_test(t, fallback) if outcome != PASS else None))
    return out


def dedupe(results: Iterable[CheckResult]) -> list[CheckResult]:
    """One result per check: a check seen twice in a run (merged shards, reruns) keeps its worst outcome."""
    kept: dict[tuple[str, str], CheckResult] = {}
    for r in results:
        k = (r.category, r.key)
        if k not in kept or _RANK[r.outcome] > _RANK[kept[k].outcome]:
            kept[k] = r
    return list(kept.values())


def run_results(env_report: Mapping[str, Any] | None, contracts: Mapping[str, Any] | None, tests: Mapping[str, Any] | None) -> list[CheckResult]:
    """Every check of a run, once: its environment probes, contract items and tests."""
    return dedupe([*environment_results(env_report), *contract_results(contracts), *execution_results(tests)])


def gate_records(gates: Mapping[str, Any] | None) -> tuple[list[GateRecord], list[ConditionRecord]]:
    if not gates:
        return [], []
    out_g, out_c = [], []
    for g in gates.get("gates", []):
        out_g.append(GateRecord(int(g["id"]), g["name"], g["status"]))
        for c in g.get("conditions", []):
            out_c.append(ConditionRecord(
                int(g["id"]), c["id"], c["metric"], c["operator"],
                None if c["threshold"] is None else float(c["threshold"]), None if c["actual"] is None else float(c["actual"]),
                bool(c["blocking"]), c["raw_status"], c["status"], c["artifact"], c["reason"], bool(c["waivers"]),
            ))
    return out_g, out_c


def defect_records(rows: list[dict[str, str]]) -> list[DefectRecord]:
    return [
        DefectRecord(r["id"], r["fingerprint"], r["source"], r["title"], r["severity"], r["owner"], r["status"], r["ticket"],
                     int(r["occurrences"] or 0), _clip(r["message"]) or "")
        for r in rows
    ]


def load_run(
    artifacts_dir: Path | RunFolder,
    *,
    run_id: str | None = None,
    environment: str | None = None,
    git_commit: str | None = None,
    started_at: datetime | str | None = None,
    finished_at: datetime | str | None = None,
) -> RunRecord:
    """Read one run's artifacts into a record.

    Missing arguments come from the run state (`.interlock-state.json`: run id,
    environment, start), the gate results (finish) and the test report (the
    commit it ran on, when it recorded one).
    """
    run = RunFolder.load(artifacts_dir)
    read: tuple[Mapping[str, Any] | None, ...] = (run.gates, run.scope, run.env_report, run.tests)
    gates, scope, env_report, tests = read
    state = run.state
    run_id = run_id or state.get("run_id")
    if not run_id:
        raise UsageError(Problem(str(run.root), f"no run id given and no {STATE_FILE} to read it from; pass the run id"))
    environment = environment or state.get("environment") or (scope or {}).get("environment") or (env_report or {}).get("environment") or ""
    started_at = started_at or state.get("started_at") or (env_report or {}).get("started_at")
    finished_at = finished_at or (gates or {}).get("generated_at")
    git_commit = git_commit or ((tests or {}).get("interlock") or {}).get("commit")  # the suite records HEAD of the system under test
    gate_list, conditions = gate_records(gates)
    results = run_results(env_report, run.contracts, tests)
    project = ((scope or {}).get("project") or {}).get("name") or ""
    return RunRecord(
        run_id=run_id, environment=environment, git_commit=git_commit or None,
        started_at=utc_text(started_at), finished_at=utc_text(finished_at),
        status=(gates or {}).get("status", "unknown"), project=project,
        gates=gate_list, conditions=conditions, results=results,
        defects=defect_records(run.defects),
    )


def flaky_failures(flaky: Iterable[FlakyCheck], *, severity: str = "medium") -> list[Failure]:
    """Flaky checks as failures for `defects.merge`: one stable defect per flaky check (whatever the commit)."""
    out = []
    for f in flaky:
        rerun = f"interlock test -- '{f.key}'" if f.category == "test" else "interlock contracts" if f.category == "contract" else "interlock env"
        out.append(Failure(
            source="flaky", key=f"{f.category}:{f.key}", title=f"flaky {f.category} {f.key}", severity=severity,
            evidence=f"run history: passed {f.passed}, failed {f.failed} on commit {f.git_commit[:12]}", rerun=rerun,
            message=f"{f.category} {f.key} passed {f.passed} time(s) and failed {f.failed} time(s) on commit {f.git_commit}; last {f.last_outcome} in run {f.last_run_id}",
        ))
    return out
