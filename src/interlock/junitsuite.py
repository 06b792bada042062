"""Step 3.1 for `[suite] runner = "junit"`: any command that writes JUnit XML is the integration suite.

jest with jest-junit, `go test` through gotestsum, Maven Surefire, `dotnet test`
or pytest's own `--junitxml`: the command runs in `[suite] cwd`, the XML it
writes (`junit_xml`, a file or a glob; stale files removed first) is read with
junitparser into the same per-test records pytest-json-report gives (node id,
outcome, duration, longrepr, interfaces, critical), so defects (3.2), reruns
(3.3) and Gate 3 read them unchanged. A test's id is `<file or classname>::<name>`
as the XML names it; its interfaces and criticality come from `[[suite.tests]]`.

The suite did not run, and the step fails, when the XML is missing, empty (no
test case), or does not parse, whatever the command's exit code. Whether the
run was the whole suite is decided by `selection.junit_decide`: filter
arguments on the command line narrow it; the expected size comes from
`list_command` when given, else from the previous complete run on the same
identity (the published report records it and carries it through filtered
runs); fewer is a filtered run.
"""

from __future__ import annotations

import fnmatch
import glob
import re
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from junitparser import Error, Failure, JUnitXml, JUnitXmlError, Skipped, TestCase

from interlock import identity
from interlock.children import die_with_interlock
from interlock.config import RERUN_FIELDS, Suite, SuiteTest
from interlock.context import RunContext
from interlock.errors import Problem, UsageError
from interlock.events import AutomationExecuted, Notice, Progress
from interlock.execution import COUNTS, REPORT, PytestRun, previous_junit_report, _Progress, message_of, run_streamed, verdict, write_report
from interlock.protocol import Outcome
from interlock.selection import Expected, junit_decide
from interlock.statuses import StepStatus, TestOutcome

RUNNER = "junit"
JUNIT_LOG = "logs/junit-suite.log"
LIST_LOG = "logs/junit-list.log"
XML_LOGS = "logs/junit-xml"  # the XML files each run wrote, moved out of the work tree
_FIELD = re.compile(r"\{(" + "|".join(RERUN_FIELDS) + r")\}")


class NoProgress(_Progress):
    """Keeps the tail of a runner's output for its last error; counts nothing (only pytest's output is parsed for progress)."""

    def _count(self, line: str) -> int:
        return 0


@dataclass(frozen=True)
class Case:
    """One JUnit test case as the XML names it, with its outcome."""

    name: str
    classname: str
    file: str | None
    outcome: str
    duration: float
    message: str
    details: str

    @property
    def base_id(self) -> str:
        return f"{self.file or self.classname}::{self.name}"


class UnreadableXml(Exception):
    """A JUnit XML file that does not parse or is not JUnit: the suite did not run."""


def read_cases(path: Path) -> list[Case]:
    """Every test case of one JUnit XML file (nested suites too), with the file its suite names when the case names none."""
    try:
        xml = JUnitXml.fromfile(str(path))
    except (ParseError, JUnitXmlError, ValueError) as exc:
        raise UnreadableXml(f"{path.name} is not JUnit XML ({exc})") from None
    cases: list[Case] = []

    def walk(element: Element, file: str | None) -> None:
        for child in element:
            if child.tag in ("testsuite", "testsuites"):
                walk(child, child.get("file") or file)
            elif child.tag == "testcase":
                cases.append(_case(TestCase.fromelem(child), child.get("file") or file))

    walk(xml._elem, None)
    return cases


def _case(case: TestCase, file: str | None) -> Case:
    try:
        duration = max(float(case._elem.get("time") or 0), 0.0)
    except ValueError:
        duration = 0.0
    results = case.result
    outcome, message, details = TestOutcome.PASSED, "", ""
    for kind, result_outcome in ((Error, TestOutcome.ERROR), (Failure, TestOutcome.FAILED), (Skipped, TestOutcome.SKIPPED)):
        found = [r for r in results if isinstance(r, kind)]
        if found:
            outcome = result_outcome
            message = (found[0].message or "").strip()
            details = "\n".join(t for r in found if (t := (r.text or "").strip()))
            break
    return Case(case.name or "", case.classname or "", file, outcome, duration, message, details)


def ids_of(cases: list[Case]) -> list[str]:
    """Each case's test id: `<file or classname>::<name>`, with the classname added, then an index, where that repeats.

    Two cases must never share an id: one failure would hide the other in the defect log.
    """
    counts: dict[str, int] = {}
    for case in cases:
        counts[case.base_id] = counts.get(case.base_id, 0) + 1
    ids: list[str] = []
    seen: dict[str, int] = {}
    for case in cases:
        nodeid = case.base_id
        if counts[nodeid] > 1 and case.file and case.classname:
            nodeid = f"{case.file}::{case.classname}::{case.name}"
        seen[nodeid] = seen.get(nodeid, 0) + 1
        ids.append(nodeid if seen[nodeid] == 1 else f"{nodeid}[{seen[nodeid]}]")
    return ids


def mapping(suite: Suite, nodeid: str) -> tuple[list[str], bool]:
    """The interfaces and criticality `[[suite.tests]]` gives a test id (every matching entry applies)."""
    interfaces: list[str] = []
    critical = False
    for entry in suite.tests:
        if fnmatch.fnmatchcase(nodeid, entry.match):
            interfaces += [i for i in entry.interfaces if i not in interfaces]
            critical = critical or entry.critical
    return interfaces, critical


def records(suite: Suite, cases: list[Case]) -> list[dict[str, Any]]:
    """The cases as pytest-json-report's per-test records: what Gate 3, triage and the history read."""
    found = []
    for nodeid, case in zip(ids_of(cases), cases):
        interfaces, critical = mapping(suite, nodeid)
        longrepr = "\n".join(t for t in (case.message, case.details) if t)
        call = {"outcome": TestOutcome.FAILED if case.outcome == TestOutcome.ERROR else case.outcome, "duration": case.duration,
                **({"longrepr": longrepr} if longrepr else {})}
        found.append({"nodeid": nodeid, "outcome": case.outcome, "keywords": [case.name, *(["critical"] if critical else [])],
                      "call": call, "metadata": {"interfaces": interfaces},
                      "junit": {"name": case.name, "classname": case.classname, **({"file": case.file} if case.file else {})}})
    return found


def unmatched(suite: Suite, tests: list[dict[str, Any]]) -> list[SuiteTest]:
    """The `[[suite.tests]]` entries whose glob matches no test of this run."""
    return [entry for entry in suite.tests if not any(fnmatch.fnmatchcase(t["nodeid"], entry.match) for t in tests)]


MAPPING = "[[suite.tests]] "  # a suite-level failure's id: a critical `[[suite.tests]]` glob that matched no test


def suite_level(suite: Suite, target: str) -> bool:
    """Whether a defect's test id is the suite itself (it did not run; a critical glob matched nothing), not one test."""
    return target == (suite.junit_xml or suite.cwd) or target.startswith(MAPPING)


def fill(template: list[str], fields: dict[str, str]) -> list[str]:
    """A rerun template with the test's fields filled in one pass (what is filled in is never scanned again)."""
    return [_FIELD.sub(lambda m: fields[m.group(1)], word) for word in template]


def fields_of(test: dict[str, Any]) -> dict[str, str]:
    """What a rerun template may name of a test record (`junit` names, else split from its id)."""
    junit = test.get("junit") or {}
    head, _, tail = test["nodeid"].rpartition("::")
    name, classname = junit.get("name", tail), junit.get("classname", head)
    return {"name": name, "name_regex": regex_of(name), "classname": classname, "file": junit.get("file", head), "id": test["nodeid"]}


def regex_of(text: str) -> str:
    """`text` as a regular expression matching it literally (JavaScript, Go and Java read these escapes alike)."""
    return re.sub(r"([.*+?^${}()|\[\]\\/])", r"\\\1", text)


def rerun_template(ctx: RunContext) -> list[str]:
    suite = ctx.config.suite
    return [ctx.spec.expand(w) for w in (suite.rerun or suite.command)]


def rerun_text(ctx: RunContext, test: dict[str, Any]) -> str:
    """The runner's own command that reruns one test, as a defect shows it (with `cd` when it runs elsewhere)."""
    command = shlex.join(fill(rerun_template(ctx), fields_of(test)))
    folder = ctx.config.suite.cwd
    return command if folder in ("", ".") else f"cd {shlex.quote(folder)} && {command}"


def keep(ctx: RunContext, path: Path, name: str) -> None:
    """Move a JUnit XML file the runner wrote into the artifact folder (redacted): the work tree is left as the run found it,
    so the run identity does not change under the steps that follow."""
    ctx.artifacts.write_text(name, path.read_bytes().decode("utf-8", "replace"))
    path.unlink(missing_ok=True)


def cwd_of(ctx: RunContext) -> Path:
    """The folder the suite's commands run in (`[suite] cwd`, relative to the config's folder)."""
    return Path(ctx.loaded.root / ctx.config.suite.cwd).resolve()


def xml_files(cwd: Path, pattern: str) -> list[Path]:
    """The files `junit_xml` names now (a glob, or one file), sorted."""
    return sorted(Path(p) for p in glob.glob(str(cwd / pattern), recursive=True) if Path(p).is_file())


def refuse_pytest_options(ctx: RunContext, given: list[str]) -> None:
    """pytest's options interlock adds (--last-failed, --maxfail, --shard) have no meaning to another runner: refused, never ignored."""
    if ctx.spec.last_failed:
        raise UsageError(Problem("--last-failed", "runner \"junit\" cannot rerun a list of failures; rerun each with its defect's rerun command"))
    if ctx.spec.shard is not None or any(a.startswith("--interlock-shard") for a in given):
        raise UsageError(Problem("--shard", "runner \"junit\" runs the suite whole: split it with the runner's own sharding and one interlock run"))
    if any(a.startswith("--maxfail") for a in given):
        raise UsageError(Problem("--maxfail", "runner \"junit\" cannot stop after N failures; pass the runner's own option after --"))


def listed(ctx: RunContext, cwd: Path, wall_clock: float) -> tuple[Expected | None, str | None]:
    """The suite's size by `list_command`: (expected, None), or (None, why it could not be read); (None, None) without one."""
    suite = ctx.config.suite
    if not suite.list_command:
        return None, None
    command = [ctx.spec.expand(w) for w in suite.list_command]
    try:
        done = subprocess.run(command, cwd=cwd, env=ctx.base_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, timeout=wall_clock, preexec_fn=die_with_interlock())
    except subprocess.TimeoutExpired:
        return None, f"[suite] list_command took over {wall_clock:g}s"
    except OSError as exc:
        return None, f"[suite] list_command could not start ({exc.strerror})"
    out = done.stdout.decode("utf-8", "replace")
    ctx.artifacts.write_text(LIST_LOG, f"$ {shlex.join(command)}\n{out}{done.stderr.decode('utf-8', 'replace')}")
    if done.returncode != 0:
        return None, f"[suite] list_command failed (exit {done.returncode}; see {LIST_LOG})"
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    if suite.list_pattern is not None:
        lines = [line for line in lines if re.search(suite.list_pattern, line)]
    shown = shlex.join(command)
    if suite.list_unit == "files":
        names = tuple(dict.fromkeys(relative_file(line, cwd) for line in lines))
        return Expected(len(names), "files", f"`{shown}`", names), None
    return Expected(len(lines), "tests", f"`{shown}`"), None


def relative_file(name: str, cwd: Path) -> str:
    """A file as the runner named it, relative to `cwd` when it lies under it (jest lists absolute paths)."""
    path = Path(name)
    if path.is_absolute():
        try:
            return path.resolve().relative_to(cwd).as_posix()
        except ValueError:
            return path.as_posix()
    return path.as_posix()


def previous(ctx: RunContext, command: list[str], key: str | None) -> Expected | None:
    """The suite's size from the previous complete run on the same identity and command (the published report).

    A filtered run carries its own expectation forward, so a `-t` run in between does not lose it.
    """
    if key is None:
        return None
    report = previous_junit_report(ctx)
    if report is None:
        return None
    section = report["interlock"]
    chosen = section.get("junit_selection") or {}
    if chosen.get("identity") != key or chosen.get("command") != command:
        return None
    if section.get("filtered") is False and not chosen.get("given"):
        tests = section.get("summary", {}).get("total", 0)
        return Expected(tests, "tests", f"the previous complete run on {key[:12]}") if tests else None
    carried = chosen.get("expected")
    if isinstance(carried, dict) and carried.get("unit") == "tests" and str(carried.get("source", "")).startswith("the previous complete run"):
        return Expected(int(carried["count"]), "tests", str(carried["source"]))
    return None


def summarize(ctx: RunContext, tests: list[dict[str, Any]], problem: str | None) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Counts as interlock counts them and the failures (each with the runner's rerun command); a suite that did not run is one failure."""
    counts = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}
    failures = []
    for test in tests:
        counts[COUNTS[test["outcome"]]] += 1
        if test["outcome"] in (TestOutcome.FAILED, TestOutcome.ERROR):
            call = test["call"]
            failures.append({"nodeid": test["nodeid"], "outcome": test["outcome"], "message": message_of(call.get("longrepr", ""), None),
                             "critical": "critical" in test["keywords"], "interfaces": list(test["metadata"]["interfaces"]),
                             "rerun": rerun_text(ctx, test)})
    if problem:
        suite = ctx.config.suite
        failures.append({"nodeid": suite.junit_xml or suite.cwd, "outcome": TestOutcome.ERROR, "message": problem, "critical": True,
                         "interfaces": [], "rerun": "interlock test"})
    total = len(tests)
    return {"collected": total, "total": total, **counts, "deselected": 0}, failures


def run_suite(ctx: RunContext, extra_args: list[str] | None = None, *, wall_clock: float | None = None) -> Outcome:
    """Step 3.1 with a JUnit XML runner: run the command, read the XML, decide whether it was the whole suite, write the report."""
    suite = ctx.config.suite
    given = list(ctx.spec.pytest_args) if extra_args is None else list(extra_args)
    refuse_pytest_options(ctx, given)
    assert suite.junit_xml is not None  # the config requires it with runner "junit"
    limit = float(wall_clock if wall_clock is not None else suite.timeout)
    cwd = cwd_of(ctx)
    if not cwd.is_dir():
        raise UsageError(Problem("[suite] cwd", f"{cwd} is not a folder; fix [suite] cwd (relative to the config's folder)"))
    base = [ctx.spec.expand(w) for w in suite.command]
    command = [*base, *given]
    for stale in xml_files(cwd, suite.junit_xml):
        stale.unlink()
    expected, unsized = listed(ctx, cwd, limit)
    key = identity.commit_key(ctx.loaded.root, ctx.published or ctx.artifacts.root)
    if expected is None and unsized is None:
        expected = previous(ctx, base, key)
    tail = NoProgress()
    try:
        exit_code, duration, stopped = run_streamed(ctx, command, JUNIT_LOG, cwd, tail, None, limit, who="(suite)")
    except OSError as exc:
        raise UsageError(Problem("[suite] command", f"{shlex.join(command)} could not start ({exc.strerror}); fix [suite] command")) from None
    files = xml_files(cwd, suite.junit_xml)
    cases: list[Case] = []
    problem = None
    for number, path in enumerate(files, 1):
        try:
            cases += read_cases(path)
        except UnreadableXml as exc:
            problem = f"the suite did not run: {exc} (exit {exit_code}; see {JUNIT_LOG})"
        keep(ctx, path, f"{XML_LOGS}/{number}-{path.name}")
    if stopped is not None:
        problem = f"the suite did not finish within {stopped:g}s and was stopped ([suite] timeout)"
    elif not files:
        problem = f"the suite did not run: {shlex.join(command)} wrote no JUnit XML at {suite.junit_xml} (exit {exit_code}: {tail.last_error() or 'see ' + JUNIT_LOG})"
    elif problem is None and not cases:
        problem = f"the suite did not run: {', '.join(p.name for p in files)} hold(s) no test case (exit {exit_code}; see {JUNIT_LOG})"
    tests = records(suite, cases)
    summary, failures = summarize(ctx, tests, problem)
    outcome = verdict(summary, problem, suite.marker)
    if problem is None and exit_code != 0 and not summary["failed"] + summary["errors"]:
        problem = f"{shlex.join(base)} exited {exit_code} though its JUnit XML records no failure: {tail.last_error() or 'see ' + JUNIT_LOG}"
        failures.append({"nodeid": suite.junit_xml, "outcome": TestOutcome.ERROR, "message": problem, "critical": True, "interfaces": [], "rerun": "interlock test"})
        outcome = Outcome.of(False, problem)
    named = sorted({t["junit"]["file"] for t in tests if "file" in t["junit"]})
    files_ran = [relative_file(f, cwd) for f in named] if named else None
    reasons = junit_decide(given, list(suite.filter_args), expected, len(tests), files_ran)
    if unsized:
        reasons.append(f"{unsized}: nothing shows the whole suite ran")
    idle = unmatched(suite, tests) if tests and not reasons else []
    for entry in idle:
        if entry.critical:  # a critical test gone, or a glob that protects nothing: never a silent pass
            message = f"[[suite.tests]] match {entry.match!r} (critical) matches no test of the whole suite: the test is gone or the glob is wrong"
            failures.append({"nodeid": f"{MAPPING}{entry.match}", "outcome": TestOutcome.ERROR, "message": message, "critical": True,
                             "interfaces": list(entry.interfaces), "rerun": "interlock test"})
            outcome = Outcome.of(False, message) if outcome.status == StepStatus.PASS else outcome
        else:
            ctx.emit(Notice("3.1", f"[[suite.tests]] match {entry.match!r} matches no test: its interfaces {', '.join(entry.interfaces) or '(none)'} are not covered by it"))
    shown_xml = [p.relative_to(cwd).as_posix() if p.is_relative_to(cwd) else p.name for p in files]
    selection = {"command": base, "cwd": suite.cwd, "given": given, "xml": shown_xml,
                 "expected": {"count": expected.count, "unit": expected.unit, "source": expected.source} if expected else None,
                 "identity": key, "counts": {"tests": len(tests), "files": len(files_ran or [])}, "narrowing": reasons}
    why = "; ".join(reasons) or None
    section: dict[str, Any] = {"runner": RUNNER, "command": command, "exit_code": exit_code, "log": JUNIT_LOG, "environment": ctx.env_name,
                               "summary": summary, "failures": failures, "system_root": str(ctx.loaded.root),
                               "commit": identity.head(ctx.loaded.root), "filtered": why is not None, **({"filter": why} if why else {}),
                               "junit_selection": selection}
    report = {"created": time.time(), "duration": duration, "exitcode": exit_code, "root": str(ctx.loaded.root),
              "summary": {"total": len(tests), "collected": len(tests)}, "tests": tests, "interlock": section}
    write_report(ctx.artifacts, REPORT, report)
    ctx.emit(AutomationExecuted(shlex.join(suite.command), "PASS" if outcome.status == StepStatus.PASS else "FAIL"))  # as configured: no machine path
    if why:
        ctx.emit(Notice("3.1", f"filtered run ({why}): {REPORT} is not complete evidence; Gate 3 needs the whole suite"))
    elif expected is None:
        ctx.emit(Notice("3.1", f"no expected size for the suite (no [suite] list_command, no previous complete run on this identity): "
                        f"this run's {len(tests)} test(s) become the expectation"))
    return outcome



def spot_check(ctx: RunContext, targets: list[str], runs: int, passes: dict[str, int]) -> list[PytestRun]:
    """Step 3.3 for a JUnit XML runner: rerun each target test `runs` times with the runner's own rerun command.

    A test's fields come from the published report (else from its id); targets whose filled command is the same
    (a template without fields: the whole suite) share each run. `passes` counts, per target, the runs its case passed in.
    """
    suite = ctx.config.suite
    assert suite.junit_xml is not None
    cwd, template = cwd_of(ctx), rerun_template(ctx)
    known = {t["nodeid"]: t for t in (previous_junit_report(ctx) or {}).get("tests", [])}
    commands: dict[tuple[str, ...], list[str]] = {}
    whole = tuple(ctx.spec.expand(w) for w in suite.command)
    for target in targets:
        test = known.get(target) or {"nodeid": target}
        commands.setdefault(whole if suite_level(suite, target) else tuple(fill(template, fields_of(test))), []).append(target)
    done: list[PytestRun] = []
    for index in range(1, runs + 1):
        ctx.emit(Progress("3.3", index - 1, runs, f"rerun {index}/{runs}"))
        for command, wanted in commands.items():
            for stale in xml_files(cwd, suite.junit_xml):
                stale.unlink()
            tail = NoProgress()
            exit_code, duration, stopped = run_streamed(ctx, list(command), f"logs/regression-{len(done) + 1}.log", cwd, tail, None,
                                                        float(suite.timeout), who="(suite)")
            outcomes: dict[str, str] = {}
            readable = stopped is None
            for number, path in enumerate(xml_files(cwd, suite.junit_xml), 1):
                try:
                    cases = read_cases(path)
                except UnreadableXml:
                    readable = False
                    continue  # this run proves nothing for its targets
                finally:
                    keep(ctx, path, f"{XML_LOGS}/regression-{len(done) + 1}-{number}-{path.name}")
                outcomes.update(zip(ids_of(cases), (c.outcome for c in cases)))
                for case in cases:  # a narrowed rerun may drop the classname a full run needed to tell two cases apart
                    outcomes.setdefault(f"{case.file}::{case.classname}::{case.name}" if case.file else case.base_id, case.outcome)
            # A suite-level defect (the suite did not run, a critical glob matched nothing) is fixed when the whole suite runs clean.
            clean = readable and TestOutcome.PASSED in outcomes.values() and all(o in (TestOutcome.PASSED, TestOutcome.SKIPPED) for o in outcomes.values())
            for target in wanted:
                if suite_level(suite, target):
                    passes[target] += clean and (not target.startswith(MAPPING) or any(
                        fnmatch.fnmatchcase(n, target[len(MAPPING):]) for n in outcomes))
                else:
                    passes[target] += outcomes.get(target) == TestOutcome.PASSED
            done.append(PytestRun(list(command), exit_code, duration, None, stopped, tail.last_error()))
    ctx.emit(Progress("3.3", runs, runs, "reruns done"))
    return done
