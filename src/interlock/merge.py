"""`interlock merge DIR...`: shard artifacts in, one full-suite report and one defect log out.

A CI matrix runs `interlock test --shard K/N` on N machines; each leaves
`test-execution-report.shard-K-of-N.json` (with the suite's digest, the
partition's digest and the shard's full selection) and
`defect-log.shard-K-of-N.csv`. The merge refuses, with one line and exit 2,
anything that is not provably the whole suite exactly once: a shard missing or
given twice, shards of different splits, suites, commits or environments, or
selections that overlap or leave tests out. What it writes is what one run of
the whole suite would have written: the same outcomes, the same failures, and
the defect log triaged from them (so the same failure is still one defect).

`combine` is pure (reports in, report out); reading, locking and writing sit in
`merge_shards`.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interlock import ledger
from interlock.artifacts import EXECUTION_REPORT, ArtifactDir, writer_lock
from interlock.config import Loaded
from interlock.artifacts import DEFECT_LOG
from interlock.defects import DefectLog
from interlock.errors import Problem, UsageError
from interlock.events import DefectFound, Emit, Notice
from interlock.execution import COUNTS, LOG, REPORT, ReportFormatError, read_report, verdict, write_report
from interlock.protocol import Outcome
from interlock.selection import combine_selections
from interlock.shards import SHARD_FILE, Shard, digest, relocate
from interlock.state import RunState
from interlock.statuses import TestOutcome


@dataclass
class ShardReport:
    """One shard's report as found on disk, with the shard it claims to be and its defect log's rows."""

    shard: Shard
    path: Path
    report: dict[str, Any]
    defects: list[dict[str, str]]
    log: str | None

    @property
    def section(self) -> dict[str, Any]:
        section: dict[str, Any] = self.report["interlock"]
        return section


class MergeRefused(Exception):
    """The shards are not provably the whole suite exactly once; the message says why, in one line."""


def _refuse(message: str) -> MergeRefused:
    return MergeRefused(message)


def find(dirs: list[Path]) -> list[ShardReport]:
    """Every shard report (and its defect log and pytest log) in the given folders; one line and exit 2 for bad input."""
    found: dict[Path, ShardReport] = {}
    for folder in dirs:
        if not folder.is_dir():
            raise UsageError(Problem(str(folder), "not a folder; give folders that hold test-execution-report.shard-K-of-N.json"))
        for path in sorted(folder.glob(EXECUTION_REPORT.shard_glob)):
            match = SHARD_FILE.match(path.name)
            if match is None or path.resolve() in found:
                continue
            shard = Shard.parse(f"{match['k']}/{match['n']}")
            try:
                report = read_report(path)
            except ReportFormatError as exc:
                raise UsageError(Problem(str(path), str(exc))) from None
            if report is None or not isinstance(report.get("interlock"), dict) or report["interlock"].get("shard") != str(shard):
                raise UsageError(Problem(str(path), f"not a shard report of interlock test --shard {shard}; rerun that shard"))
            log = folder / f"logs/pytest.{shard.suffix}.log"
            found[path.resolve()] = ShardReport(shard, path, report, DefectLog.at(folder, shard).read(),
                                                log.read_text("utf-8", "replace") if log.is_file() else None)
    if not found:
        raise UsageError(Problem(" ".join(map(str, dirs)), "no shard reports (test-execution-report.shard-K-of-N.json) here; run `interlock test --shard K/N` first"))
    return sorted(found.values(), key=lambda s: (s.shard.total, s.shard.index, str(s.path)))


def check(shards: list[ShardReport]) -> None:
    """Refuse unless the shards are one split of one suite at one commit, complete and disjoint."""
    shards = sorted(shards, key=lambda s: (s.shard.total, s.shard.index, str(s.path)))
    first = shards[0]
    for before, other in zip(shards, shards[1:]):
        if other.shard.total != first.shard.total:
            raise _refuse(f"shards of different splits: {first.shard} ({first.path}) and {other.shard} ({other.path})")
        if other.shard.index == before.shard.index:
            raise _refuse(f"shards overlap: shard {other.shard} given twice ({before.path} and {other.path})")
    have = {s.shard.index for s in shards}
    missing = [f"{k}/{first.shard.total}" for k in range(1, first.shard.total + 1) if k not in have]
    if missing:
        raise _refuse(f"shard {', '.join(missing)} missing (have {', '.join(str(s.shard) for s in shards)}); merge all {first.shard.total}")
    for key, what in (("suite", "suites"), ("commit", "commits"), ("environment", "environments")):
        values = {json.dumps(s.section.get(key), sort_keys=True) for s in shards}
        if len(values) > 1:
            detail = ", ".join(f"{s.shard} {_show(key, s.section.get(key))}" for s in shards)
            raise _refuse(f"shards come from different {what}: {detail}")
    if len({s.section.get("partition") for s in shards}) > 1:
        detail = ", ".join(f"{s.shard} by {s.section.get('balance')}" for s in shards)
        raise _refuse(f"shards were split differently ({detail}): give every shard the same test-execution-report.json to balance by, or none")
    owner: dict[str, Shard] = {}
    for s in shards:
        for nodeid in s.section.get("selection", []):
            if nodeid in owner:
                raise _refuse(f"shards overlap: {nodeid} is in {owner[nodeid]} and {s.shard}")
            owner[nodeid] = s.shard
    suite = first.section["suite"]
    if len(owner) != suite["tests"] or digest(owner) != suite["sha256"]:
        raise _refuse(f"shards do not cover the suite: they select {len(owner)} of its {suite['tests']} tests")


def _show(key: str, value: Any) -> str:
    if key == "suite" and isinstance(value, dict):
        return f"{value.get('tests')} tests ({str(value.get('sha256'))[:12]})"
    return str(value)[:12] if key == "commit" and value else str(value)


def _exit_code(codes: list[int]) -> int:
    """One run's exit code from the shards': an internal or usage error wins, then failures; 5 only if no shard ran a test."""
    for bad in (3, 4, 2, 1):
        if bad in codes:
            return bad
    return 5 if codes and all(c == 5 for c in codes) else 0


def combine(shards: list[ShardReport], root: Path, command: list[str]) -> dict[str, Any]:
    """The full-suite report the shards add up to (pure); node ids relative to the system's root, as `root`."""
    tests: list[dict[str, Any]] = []
    collectors: dict[str, dict[str, Any]] = {}
    failures: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    for s in shards:
        report_root, system_root = Path(s.report["root"]), Path(s.section.get("system_root") or s.report["root"])
        for test in s.report["tests"]:
            tests.append({**test, "nodeid": relocate(test["nodeid"], report_root, system_root)})
        for collector in s.report.get("collectors", []):
            if collector["outcome"] == TestOutcome.FAILED:  # every shard collects every module: an uncollectable one is reported once
                collectors.setdefault(relocate(collector["nodeid"], report_root, system_root), {**collector, "nodeid": relocate(collector["nodeid"], report_root, system_root)})
        for failure in s.section["failures"]:
            failures.setdefault(failure["nodeid"], failure)
        for key, value in s.report["summary"].items():
            if key not in ("collected", "deselected", "total") and isinstance(value, int):
                counts[key] = counts.get(key, 0) + value
    collected = max([len(tests)] + [s.report["summary"].get("collected", 0) for s in shards])  # under xdist a shard counts only its own
    summary = {**counts, "total": len(tests), "collected": collected}
    if collected - len(tests) > 0:
        summary["deselected"] = collected - len(tests)
    ours = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}
    for test in tests:
        ours[COUNTS[test["outcome"]]] += 1
    first = shards[0]
    filtered = [f"{s.shard}: {s.section['filter']}" for s in shards if s.section.get("filtered")]
    recorded = [(s.section["pytest_selection"], Path(s.report["root"]), Path(s.section.get("system_root") or s.report["root"]))
                for s in shards if "pytest_selection" in s.section]
    chosen = combine_selections(recorded) if len(recorded) == len(shards) else None
    section: dict[str, Any] = {
        "command": command, "exit_code": _exit_code([s.section["exit_code"] for s in shards]), "log": LOG,
        "environment": first.section["environment"],
        "summary": {"collected": collected, "total": len(tests), **ours, "deselected": summary.get("deselected", 0)},
        "failures": list(failures.values()), "system_root": str(root), "commit": first.section.get("commit"),
        "filtered": bool(filtered), **({"filter": "; ".join(filtered)} if filtered else {}),
        "suite": first.section["suite"], "partition": first.section["partition"], "balance": first.section["balance"],
        "merged": [{"shard": str(s.shard), "source": str(s.path), "tests": len(s.report["tests"]), "exit_code": s.section["exit_code"],
                    "commit": s.section.get("commit")} for s in shards],
        **({"pytest_selection": chosen} if chosen else {}),
    }
    report = {
        "created": max(s.report.get("created", 0) for s in shards), "duration": max(s.report.get("duration", 0) for s in shards),
        "exitcode": section["exit_code"], "root": str(root), "environment": first.report.get("environment", {}),
        "summary": summary, "collectors": list(collectors.values()), "tests": tests, "interlock": section,
    }
    return report


def merged_log(shards: list[ShardReport]) -> str:
    """The shards' pytest output, one after the other, each under a header naming its shard and source."""
    parts = []
    for s in shards:
        parts.append(f"##### shard {s.shard} ({s.path})\n")
        parts.append(s.log if s.log is not None else f"(no logs/pytest.{s.shard.suffix}.log beside {s.path.name})\n")
    return "".join(parts)


def merge_shards(loaded: Loaded, dirs: list[Path], destination: Path, emit: Emit, command: str = "interlock merge", by: str | None = None) -> Outcome:
    """Check, combine and write: test-execution-report.json, defect-log.csv and logs/pytest.log in `destination`.

    The run ledger gets a line naming the shard reports (materials), what the merge wrote (products), `command` and `by`.
    """
    from interlock.phases.triage import failures_from, triaged

    shards = find(dirs)
    try:
        check(shards)
    except MergeRefused as exc:
        raise UsageError(Problem("interlock merge", f"refused: {exc}")) from None
    destination.mkdir(parents=True, exist_ok=True)
    with writer_lock(destination):
        folder = ArtifactDir(destination)
        stamps: dict[str, tuple[int, int, int]] = {}
        before = ledger.tracked(destination, stamps)
        report = combine(shards, loaded.root, ["interlock", "merge", *map(str, dirs)])
        section = report["interlock"]
        found = failures_from(None, None, report, section["environment"])
        current = {f.fingerprint for f in found}
        log = DefectLog(folder)
        rows = log.read()
        known = {r["fingerprint"] for r in rows}
        for s in shards:  # what only a shard's log has (its environment or contract defects), not the tests' failures, re-triaged below
            for row in s.defects:
                if row["fingerprint"] not in known and row["fingerprint"] not in current:
                    rows.append(row)
                    known.add(row["fingerprint"])
        rows = triaged(loaded.config, rows, found, f"merge-{uuid.uuid4().hex[:8]}")
        folder.write_text(LOG, merged_log(shards))
        write_report(folder, REPORT, report)
        log.write(rows)
        materials = {**before, **{os.path.relpath(s.path, loaded.root): ledger.sha256_bytes(s.path.read_bytes()) for s in shards}}
        products, removed = ledger.step_changes(destination, before, stamps)
        state = RunState.load(destination)
        ledger.append(destination, step="3.1", kind="merge", command=command, by=by or ledger.whoami(),
                      reason=f"merged {len(shards)} shards: " + ", ".join(str(s.shard) for s in shards), run_id=state.run_id if state else "",
                      identity=loaded.identity(destination), config=ledger.config_digest(loaded.path),
                      materials=materials, products=products, removed=removed)
    for row in rows:
        if row["fingerprint"] in current:
            emit(DefectFound(row["id"], row["severity"], row["title"], row["owner"], row["rerun"]))
    totals = section["summary"]
    emit(Notice("merge", f"merged {len(shards)} shards ({', '.join(str(s.shard) for s in shards)}): {totals['total']} tests, "
                         f"{totals['passed']} passed, {totals['failed']} failed, {totals['errors']} errors, {totals['skipped']} skipped "
                         f"-> {folder.path(REPORT)} and {DEFECT_LOG}"))
    # As for one run: an uncollectable module or a shard that could not finish fails the merged run even if every test passed.
    ran = {t["nodeid"] for t in report["tests"]}
    problem = next((f"{f['nodeid']}: {f['message']}" for f in section["failures"] if f["nodeid"] not in ran), None)
    return verdict(section["summary"], problem, loaded.config.suite.marker)
