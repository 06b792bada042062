"""Step 3.1: run the integration suite under pytest and record what really ran.

The ONE module that reads pytest-json-report's report (unmaintained since 2022):
every field read is declared in `REPORT_SCHEMA` and checked first, so a format
change fails loudly (internal error) instead of reading as a pass. Runs are judged
by the tests that ran, never by `collected`; a run that could not happen still
leaves a valid report whose failures say why, so Gate 3 fails with a reason.

A run that is not the whole suite never passes for it: a shard (`--interlock-shard
K/N`, from `interlock test --shard`) writes `test-execution-report.shard-K-of-N.json`
for `interlock merge`, and a run pytest narrowed in any way (targets, `-k`/`-m`
from any source, `--last-failed`, a run stopped early) is marked `filtered`,
which fails Gate 3. What narrowed it is decided by `interlock.selection` from the
selection pytest itself recorded (`--interlock-selection`), not from interlock's
arguments.
"""

from __future__ import annotations

from interlock.statuses import TEST_RED, StepStatus, TestOutcome

import codecs
import json
import os
import re
import selectors
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from interlock import identity
from interlock.artifacts import EXECUTION_REPORT, ArtifactDir, SchemaViolation, atomic_write, validation_errors
from interlock.children import die_with_interlock
from interlock.errors import Problem, UsageError
from interlock.events import AutomationExecuted, Notice, Progress
from interlock.protocol import Outcome
from interlock.context import RunContext
from interlock.schemacheck import SchemaCheck
from interlock.secrets import redact_variables
from interlock.selection import Suite, decide, parse_args
from interlock.shards import Shard, relocate

AUTOMATION, LOG = "pytest -m integration", "logs/pytest.log"
REPORT = EXECUTION_REPORT.filename
SHARD_OPTION = "--interlock-shard"
WALL_CLOCK = 3600.0  # seconds for a whole pytest run; the per-test limit is suite.timeout
GRACE = 10.0  # after SIGINT, time for pytest to write its report before SIGKILL
READ_PAUSE, READ_MANY = 0.02, 4096  # after a small read of pytest's output, wait this long (s) before the next; a read this big (bytes) comes at once
PROGRESS_EVERY = 0.1  # seconds between progress events: a 2,000-test suite need not send one per line of dots
# How each outcome counts: an expected failure proves nothing, so it counts as skipped.
COUNTS = {"passed": "passed", "xpassed": "passed", "failed": "failed", "error": "errors", "skipped": "skipped", "xfailed": "skipped"}
_STR, _COUNT = {"type": "string"}, {"type": "integer", "minimum": 0}
_STAGE = {"type": "object", "required": ["outcome"], "properties": {
    "outcome": _STR, "longrepr": _STR, "duration": {"type": "number", "minimum": 0}, "crash": {"type": "object", "required": ["message"], "properties": {"message": _STR}}}}
_TEST = {"type": "object", "required": ["nodeid", "outcome", "keywords"], "properties": {
    "nodeid": _STR, "outcome": {"enum": list(COUNTS)}, "keywords": {"type": "array", "items": _STR}, "setup": _STAGE, "call": _STAGE,
    "teardown": _STAGE, "metadata": {"type": "object", "properties": {
        "interfaces": {"type": "array", "items": _STR}, "trace_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}}}}
_COLLECTOR = {"type": "object", "required": ["nodeid", "outcome"], "properties": {"nodeid": _STR, "outcome": _STR, "longrepr": _STR}}
REPORT_SCHEMA: dict[str, Any] = {"type": "object", "required": ["exitcode", "root", "summary", "tests"], "properties": {
    "exitcode": {"type": "integer"}, "root": _STR, "tests": {"type": "array", "items": _TEST},
    "collectors": {"type": "array", "items": _COLLECTOR},
    "summary": {"type": "object", "required": ["total", "collected"], "properties": {"total": _COUNT, "collected": _COUNT, "deselected": _COUNT}}}}
_REPORT_CHECK = SchemaCheck(REPORT_SCHEMA)
_TOTAL = re.compile(r"collected (\d+) items?(?: / (\d+) deselected)?(?: / (\d+) selected)?|\d+ workers? \[(\d+) items?\]")
_CLASSIC = re.compile(r"(?:(\S+\.py) )?([.FEsxX]+)(?: +\[ *\d+%\])?")
_ERROR = re.compile(r"error[:>]", re.IGNORECASE)  # "ERROR: ...", "pytest: error: ...", "INTERNALERROR> ..."
_VERBOSE = re.compile(r"\b(?:PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b")


class ReportFormatError(Exception):
    """pytest-json-report wrote something interlock does not know how to read: an internal error."""


@dataclass
class PytestRun:
    """One finished pytest process: its exit code, its checked report (None if not written), why it was cut short."""

    command: list[str]
    exit_code: int
    duration: float
    report: dict[str, Any] | None
    stopped_after: float | None
    last_error: str | None

    def outcomes(self, root: Path) -> dict[str, str]:
        """Each test's outcome by node id relative to `root`; empty when there is no report."""
        if self.report is None:
            return {}
        return {relocate(t["nodeid"], Path(self.report["root"]), root): t["outcome"] for t in self.report["tests"]}


class _Progress:
    """Counts finished tests in pytest's classic or verbose output, even in the middle of a line."""

    def __init__(self) -> None:
        self.total: int | None = None
        self.done = self.seen = 0
        self.partial, self.label, self.ended = "", "", False
        self.tail: deque[str] = deque(maxlen=100)

    def feed(self, text: str) -> None:
        lines = (self.partial + text).split("\n")
        self.partial = lines.pop()
        for line in lines:
            self.tail.append(line)
            if self.total is None and (match := _TOTAL.search(line)):
                collected, deselected, selected, workers = match.groups()
                self.total = int(workers or selected or int(collected) - int(deselected or 0))
            elif line.startswith(("==", "__", "!!")) and (self.total is not None or self.done):
                self.ended = True
            self.done += self._count(line)
        self.seen = min(self.done + self._count(self.partial), self.total if self.total is not None else sys.maxsize)

    def _count(self, line: str) -> int:
        if self.ended:
            return 0
        if "::" in line:
            return min(1, len(_VERBOSE.findall(line)))
        match = _CLASSIC.fullmatch(line.strip())
        if match is None:
            return 0
        self.label = match.group(1) or self.label
        return len(match.group(2))

    def last_error(self) -> str | None:
        lines = [line.strip() for line in [*self.tail, self.partial] if line.strip()]
        errors = [line for line in lines if _ERROR.search(line)]
        candidates = errors or lines
        return candidates[-1] if candidates else None


def run_pytest(ctx: RunContext, command: list[str], report: Path, log: str,
               on_progress: Callable[[int, int | None, str], None] | None = None, wall_clock: float = WALL_CLOCK) -> PytestRun:
    """Run pytest in the system's root, streaming its output to `log`; SIGINT then SIGKILL past `wall_clock`."""
    report.unlink(missing_ok=True)
    log_path = ctx.artifacts.write_text(log, f"$ {shlex.join(command)}\n")
    progress, decoder, stopped = _Progress(), codecs.getincrementaldecoder("utf-8")("replace"), None
    last: tuple[int, int | None]
    deadline, last, shown = (start := time.monotonic()) + wall_clock, (-1, None), 0.0
    redacted = ctx.redactor.stream()  # the suite inherits the environment: a test may print a secret
    with log_path.open("ab", buffering=0) as out, selectors.DefaultSelector() as selector:
        process = subprocess.Popen(command, cwd=ctx.loaded.root, env={**ctx.suite_env(), "PYTHONUNBUFFERED": "1"},
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                   preexec_fn=die_with_interlock())
        ctx.services.record("(pytest)", process.pid)  # its group: xdist workers and a test's children outlive a killed interlock
        assert process.stdout is not None
        selector.register(process.stdout, selectors.EVENT_READ)
        while True:
            now = time.monotonic()
            if now >= deadline:
                with suppress(ProcessLookupError):  # the whole group: xdist workers and a test's children too
                    os.killpg(process.pid, signal.SIGINT if stopped is None else signal.SIGKILL)
                if stopped is not None:
                    break
                stopped, deadline = wall_clock, now + GRACE
            if not selector.select(timeout=min(deadline - now, 0.5)):
                if process.poll() is not None:
                    break  # pytest is gone; only a leftover child of a test may still hold the pipe
                continue
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                break
            if len(chunk) < READ_MANY:
                time.sleep(READ_PAUSE)  # let output gather: pytest writes each test's letter on its own, one read per test cost ~20 µs here and a wake-up there
            out.write(redacted.feed(chunk))
            progress.feed(decoder.decode(chunk))
            if on_progress and (progress.seen, progress.total) != last and (progress.seen == progress.total or now - shown >= PROGRESS_EVERY):
                last, shown = (progress.seen, progress.total), now
                on_progress(progress.seen, progress.total, progress.label)
        process.stdout.close()
        process.wait()
        if on_progress and (progress.seen, progress.total) != last:
            on_progress(progress.seen, progress.total, progress.label)  # where the suite stopped, whatever the throttle held back
        ctx.services.record("(pytest)", None)
        out.write(redacted.flush())
    try:
        data = read_report(report)
    except ReportFormatError:
        if stopped is None:
            raise
        data = None  # killed while saving: there is no report
    finally:
        report.unlink(missing_ok=True)
    return PytestRun(command, process.returncode, time.monotonic() - start, data, stopped, progress.last_error())


def read_report(path: Path) -> dict[str, Any] | None:
    """pytest-json-report's report checked against REPORT_SCHEMA; None when it was not written."""
    try:
        report: dict[str, Any] = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise ReportFormatError(f"{path}: pytest-json-report wrote invalid JSON: {exc}") from None
    errors = _report_errors(report)
    if not errors and report["summary"]["total"] != len(report["tests"]):
        errors.append(f"summary.total is {report['summary']['total']} but {len(report['tests'])} tests are listed")
    if errors:
        raise ReportFormatError("pytest-json-report's format changed; interlock cannot read it: " + "; ".join(errors[:5]))
    for test in report["tests"]:  # the trace id of the test's span (the plugin, while interlock's OTLP receiver ran), beside its outcome
        if "trace_id" in test.get("metadata", {}):
            test["trace_id"] = test["metadata"]["trace_id"]
    return report


def _report_errors(report: Any) -> list[str]:
    """Where `report` breaks REPORT_SCHEMA, each as `path: message` (jsonschema-rs first, jsonschema to word them)."""
    return [f"{e.json_path}: {e.message}" for e in _REPORT_CHECK.errors(report)]


def evidence_problem(report: dict[str, Any], name: str = REPORT) -> str | None:
    """Why a test execution report, already checked against its own artifact schema, cannot be read as
    interlock's evidence (one line: the file and the JSON path), None when it can.

    Gate 3 reads pytest's records too: one pytest never writes is refused, not guessed at.
    """
    errors = _report_errors(report)
    return f"{name} breaks its schema ({errors[0]}); rerun `interlock test`" if errors else None


def tally(tests: list[dict[str, Any]]) -> dict[str, int]:
    """pytest's per-test records counted as interlock counts them (an expected failure proves nothing: skipped), with the total."""
    counts = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}
    for test in tests:
        counts[COUNTS[test["outcome"]]] += 1
    return {**counts, "total": len(tests)}


def rerun_command(nodeid: str) -> str:
    """The exact command that reruns one test (or module), single-quoted for a POSIX shell."""
    return "interlock test -- '" + nodeid.replace("'", "'\"'\"'") + "'"


def pytest_command(ctx: RunContext, report: Path, args: list[str], *, marker: str | None, maxfail: int | None) -> list[str]:
    """A pytest invocation with a JSON report, the per-test timeout and classic (parseable) progress."""
    suite = ctx.config.suite
    command = [sys.executable, "-m", "pytest", *(["-m", marker] if marker is not None else []),
               "--json-report", "--json-report-file", str(report), "--timeout", str(suite.timeout),
               "-p", "no:cacheprovider", "-o", "console_output_style=classic", "--continue-on-collection-errors"]
    return [*command, *([f"--maxfail={maxfail}"] if maxfail is not None else []), *suite.args, *args]


def report_path(ctx: RunContext, purpose: str) -> Path:
    """A run's private temp file in the artifact folder (hidden, removed after reading)."""
    return ctx.artifacts.root / f".pytest-{purpose}-{ctx.run_id}.json"


def shard_of(args: list[str]) -> Shard | None:
    """The shard an invocation runs (`--interlock-shard K/N` among its pytest arguments), if any."""
    spec = parse_args(args)[2].get(SHARD_OPTION)
    if spec is None:
        return None
    try:
        return Shard.parse(spec)
    except ValueError as exc:
        raise UsageError(Problem("--shard", str(exc))) from None


def report_name(args: list[str]) -> str:
    """Where this invocation's report goes: a shard's own file, never over the full-suite evidence."""
    return EXECUTION_REPORT.shard(shard_of(args))


def suite_command(ctx: RunContext, extra_args: list[str], report: Path | None = None, selection: Path | None = None) -> list[str]:
    """The suite's command; given paths or node ids, only those (not the whole suite path) run.

    With `selection`, pytest records there what it really selected and ran (interlock's plugin).
    """
    suite = ctx.config.suite
    targets = parse_args(extra_args)[0]
    recorder = ["--interlock-selection", str(selection), "--interlock-suite-marker", suite.marker] if selection is not None else []
    args = [*recorder, *extra_args, *([] if targets else [suite.path])]
    return pytest_command(ctx, report or report_path(ctx, "report"), args, marker=suite.marker, maxfail=suite.maxfail)


def read_selection(path: Path) -> Any | None:
    """The selection record pytest wrote (None when it wrote none or it is not JSON: no record is no proof)."""
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None


def durations_of(report: dict[str, Any] | None, root: Path) -> dict[str, float]:
    """Each test's recorded time (setup + call + teardown) by node id relative to `root`, from a checked report."""
    if not report:
        return {}
    report_root = Path(report["root"])
    found = {}
    for test in report["tests"]:
        stages = [test[s]["duration"] for s in ("setup", "call", "teardown") if "duration" in test.get(s, {})]
        if stages:
            found[relocate(test["nodeid"], report_root, root)] = round(sum(stages), 6)
    return found


def previous_report(ctx: RunContext) -> dict[str, Any] | None:
    """The published full-suite report, checked like a fresh one; None when absent or unreadable as pytest's."""
    try:
        return read_report(ctx.artifacts.path(REPORT))
    except ReportFormatError:
        return None


def last_failed(folder: ArtifactDir) -> list[str]:
    """Node ids (or modules) that failed in the previous run's test-execution-report.json, in its order."""
    path = folder.path(REPORT)
    if not path.is_file():
        raise UsageError(Problem(str(path), "no previous run to take failures from; run `interlock test` first"))
    report = folder.read_json(REPORT)
    try:
        failures = report["interlock"]["failures"]
    except (KeyError, TypeError):
        raise UsageError(Problem(str(path), "not a report interlock wrote (no interlock.failures); rerun `interlock test`")) from None
    return list(dict.fromkeys(f["nodeid"] for f in failures))


def message_of(longrepr: str, crash: str | None = None) -> str:
    """One line that says what failed: pytest's crash message, else the last `E` line, else the first line."""
    if crash and crash.strip():
        return crash.strip().splitlines()[0]
    lines = [line.strip() for line in longrepr.splitlines() if line.strip()]
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    return errors[-1] if errors else (lines[0] if lines else "no details in the report")


def _failure(nodeid: str, outcome: str, message: str, critical: bool, interfaces: list[str]) -> dict[str, Any]:
    return {"nodeid": nodeid, "outcome": outcome, "message": message, "critical": critical, "interfaces": interfaces, "rerun": rerun_command(nodeid)}


def summarize(ctx: RunContext, run: PytestRun) -> tuple[dict[str, int], list[dict[str, Any]], str | None]:
    """Counts by outcome, the failures (tests, uncollectable modules, a run cut short) and why the run is no evidence."""
    report, root = run.report, ctx.loaded.root
    tests, raw = (report["tests"], report["summary"]) if report else ([], {})
    origin = Path(report["root"]) if report else root  # where pytest ran: its node ids are relative to it
    counts = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}
    failures = []
    for test in tests:
        counts[COUNTS[test["outcome"]]] += 1
        if test["outcome"] in TEST_RED:
            stage: dict[str, Any] = next((test[w] for w in ("setup", "call", "teardown") if test.get(w, {}).get("outcome") == TestOutcome.FAILED), {})
            message = message_of(stage.get("longrepr", ""), stage.get("crash", {}).get("message"))
            failures.append(_failure(relocate(test["nodeid"], origin, root), test["outcome"], message,
                                     "critical" in test["keywords"], test.get("metadata", {}).get("interfaces", [])))
    summary = {"collected": raw.get("collected", 0), "total": raw.get("total", 0), **counts, "deselected": raw.get("deselected", 0)}
    # A module that cannot be collected hides its tests: a failure of its own (collection errors are not test errors).
    broken = [_failure(relocate(c["nodeid"], origin, root), TestOutcome.ERROR, message_of(c.get("longrepr", "")), True, [])
              for c in (report or {}).get("collectors", []) if c["outcome"] == TestOutcome.FAILED]
    if run.stopped_after is not None:
        problem = f"pytest did not finish within {run.stopped_after:g}s and was stopped"
    elif broken:
        problem = f"pytest could not collect {broken[0]['nodeid']}: {broken[0]['message']}"
    elif run.exit_code in (2, 3, 4) or report is None:
        kind = {2: "was interrupted", 3: "hit an internal error", 4: "was used wrongly"}.get(run.exit_code, "wrote no report")
        problem = f"pytest {kind} (exit {run.exit_code}): {run.last_error or 'see ' + LOG}"
    else:
        problem = None
    if problem and not broken:
        broken.append(_failure(ctx.config.suite.path, "error", problem, True, []))
    return summary, failures + broken, problem


def verdict(summary: dict[str, int], problem: str | None, marker: str) -> Outcome:
    """Pass only when at least one test ran and none failed: zero tests or all skipped is never green."""
    bad, total, deselected = summary["failed"] + summary["errors"], summary["total"], summary["deselected"]
    if problem or bad:
        return Outcome.of(False, problem or f"{bad} failed")
    if total == 0:
        return Outcome.of(False, "no tests collected" + (f" ({deselected} deselected by -m {marker})" if deselected else ""))
    return Outcome.of(summary["passed"] > 0, None if summary["passed"] else f"all {total} tests skipped")


def run_suite(ctx: RunContext, extra_args: list[str] | None = None, *, wall_clock: float = WALL_CLOCK) -> Outcome:
    """Step 3.1: run the suite (extra args default to the run's), always write the report, judge it."""
    given = list(ctx.spec.pytest_args) if extra_args is None else extra_args
    args = list(given)
    shard, name = shard_of(args), report_name(args)
    log = f"logs/pytest.{shard.suffix}.log" if shard else LOG
    selection_file = report_path(ctx, "selection")
    selection_file.unlink(missing_ok=True)
    private: list[Path] = [selection_file]
    plan_file: Path | None = None
    if shard:  # the plugin splits what -m/-k selected; the split is balanced by the published full run's durations
        plan_file, durations_file = report_path(ctx, f"{shard.suffix}-plan"), report_path(ctx, f"{shard.suffix}-durations")
        plan_file.unlink(missing_ok=True)
        args += ["--interlock-root", str(ctx.loaded.root), "--interlock-shard-out", str(plan_file)]
        durations = durations_of(previous_report(ctx), ctx.loaded.root)
        if durations:
            atomic_write(durations_file, json.dumps(durations).encode("utf-8"))
            args += ["--interlock-durations", str(durations_file)]
        private += [plan_file, durations_file]
    command = suite_command(ctx, args, selection=selection_file)
    try:
        run = run_pytest(ctx, command, report_path(ctx, "report"), log,
                         lambda done, total, label: ctx.emit(Progress("3.1", done, total, label)), wall_clock)
        plan = json.loads(plan_file.read_text("utf-8")) if plan_file is not None and plan_file.is_file() else None
        record = read_selection(selection_file)
    finally:
        for path in private:
            path.unlink(missing_ok=True)
    summary, failures, problem = summarize(ctx, run)
    outcome = verdict(summary, problem, ctx.config.suite.marker)
    if shard and plan and not plan["selection"] and not failures:
        outcome = Outcome.of(False, f"shard {shard} got none of the suite's {plan['suite']['tests']} test(s); split it into fewer shards")
    base = run.report or {"created": time.time(), "duration": run.duration, "exitcode": run.exit_code,
                          "root": str(ctx.loaded.root), "summary": {"total": 0, "collected": 0}, "tests": []}
    section: dict[str, Any] = {"command": command, "exit_code": run.exit_code, "log": log, "environment": ctx.env_name, "summary": summary,
                               "failures": failures, "system_root": str(ctx.loaded.root), "commit": identity.head(ctx.loaded.root)}
    suite = ctx.config.suite
    decision = decide(record, Suite(suite.marker, suite.path, ctx.loaded.root, list(suite.args), list(given), ctx.spec.last_failed))
    why = decision.filter
    section.update(filtered=why is not None, **({"filter": why} if why else {}))
    if decision.section is not None:
        section["pytest_selection"] = {**decision.section, "environment": redact_variables(decision.section["environment"])}
    if shard:
        if plan is None:  # pytest stopped before collection finished: no plan, so this shard can never be merged
            plan = {"shard": str(shard), "suite": {"tests": 0, "sha256": ""}, "partition": "", "balance": "none", "selection": []}
        section.update(plan)
    write_report(ctx.artifacts, name, {**base, "interlock": section})
    ctx.emit(AutomationExecuted(AUTOMATION, "PASS" if outcome.status == StepStatus.PASS else "FAIL"))
    if why:
        ctx.emit(Notice("3.1", f"filtered run ({why}): {name} is not complete evidence; Gate 3 needs the whole suite"))
    elif shard:
        ctx.emit(Notice("3.1", f"shard {shard} of the suite: wrote {name}; `interlock merge` the {shard.total} shards for the full report"))
    return outcome


def write_report(folder: ArtifactDir, name: str, report: dict[str, Any]) -> Path:
    """Validate against the execution report's schema and write atomically (shard names are not in the catalogue)."""
    errors = validation_errors("test-execution-report", report)
    if errors:
        raise SchemaViolation(f"{name} breaks its schema: " + "; ".join(errors[:5]))
    target = folder.path(name)
    text = dumps_report(report)
    if folder.redactor is not None and folder.redactor.masks(text):  # captured output may hold a secret
        text = dumps_report(folder.redactor.data(report))
    atomic_write(target, text.encode("utf-8"))
    return target


def dumps_report(report: dict[str, Any]) -> str:
    """Indented JSON with one line per test (and per collector): readable, and mostly written by the C encoder.

    `indent=2` throughout takes the pure-Python encoder, ten times slower on a large suite's report.
    """
    long = {key: value for key, value in report.items() if key in ("tests", "collectors") and value}
    markers = {key: f"@@{key}-{os.getpid()}-{time.monotonic_ns()}@@" for key in long}
    text = json.dumps({**report, **markers}, indent=2, default=str)
    for key, items in long.items():
        lines = ",\n    ".join(json.dumps(item, default=str) for item in items)
        text = text.replace(json.dumps(markers[key]), "[\n    " + lines + "\n  ]", 1)
    return text + "\n"


def collect_tests(ctx: RunContext, *, wall_clock: float = WALL_CLOCK) -> list[dict[str, Any]]:
    """The suite's selected tests with markers and interface ids (node ids relative to the root), for scope mapping."""
    suite = ctx.config.suite
    with tempfile.TemporaryDirectory(prefix="interlock-collect-") as folder:
        target = Path(folder) / "tests.json"
        command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", suite.marker, f"--interlock-collect={target}",
                   "-p", "no:cacheprovider", *suite.args, suite.path]
        try:
            done = subprocess.run(command, cwd=ctx.loaded.root, env=ctx.base_env(), stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=wall_clock, preexec_fn=die_with_interlock())
        except subprocess.TimeoutExpired:
            raise UsageError(Problem(suite.path, f"collecting the suite took over {wall_clock:g}s; look for imports that block")) from None
        ctx.artifacts.write_text("logs/pytest-collect.log", f"$ {shlex.join(command)}\n" + done.stdout.decode("utf-8", "replace"))
        if done.returncode not in (0, 5) or not target.is_file():
            raise UsageError(Problem(suite.path, f"pytest could not collect the suite (exit {done.returncode}); see logs/pytest-collect.log"))
        data = json.loads(target.read_text("utf-8"))
    return [{**test, "nodeid": relocate(test["nodeid"], Path(data["rootdir"]), ctx.loaded.root)} for test in data["tests"]]
