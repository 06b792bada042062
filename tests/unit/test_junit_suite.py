"""`[suite] runner = "junit"`: any command that writes JUnit XML is the suite (interlock.junitsuite).

The runner here is a real process: a small Python script that writes JUnit XML
the way jest-junit does (a `file` attribute per case, `-t PATTERN` narrowing by
test name, `--list` printing the test files), driven by `cases.json`.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from interlock import config, runspec
from interlock.artifacts import ArtifactDir, validation_errors
from interlock.context import RunContext
from interlock.errors import ConfigError, UsageError
from interlock.events import Event, Notice
from interlock.execution import collect_tests
from interlock.junitsuite import fields_of, fill, ids_of, read_cases, records, regex_of, run_suite, UnreadableXml
from interlock.phases.triage import failures_from
from interlock.selection import Expected, filter_words, junit_decide, report_filter
from interlock.statuses import StepStatus
from tests.support import config_head

RUNNER = r'''
import json, os, re, sys
from xml.sax.saxutils import quoteattr
here = os.path.dirname(os.path.abspath(__file__))
args = sys.argv[1:]
mode = open(os.path.join(here, "mode")).read().strip() if os.path.exists(os.path.join(here, "mode")) else "ok"
cases = json.load(open(os.path.join(here, "cases.json")))
if "--list" in args:
    listed = os.path.join(here, "listed.json")
    for f in dict.fromkeys(c["file"] for c in (json.load(open(listed)) if os.path.exists(listed) else cases)):
        print(os.path.join(here, f))
    sys.exit(0)
if "-t" in args:
    pattern = re.compile(args[args.index("-t") + 1])
    cases = [c for c in cases if pattern.search(c["name"])]
os.makedirs(os.path.join(here, "reports"), exist_ok=True)
out = os.path.join(here, "reports", "junit.xml")
if mode == "none":
    print("Error: cannot find module 'jest'", file=sys.stderr)
    sys.exit(1)
if mode == "garbage":
    open(out, "w").write("<testsuites><testsuite name='x'><testcase")
    sys.exit(1)
body = []
for c in cases:
    inner = ""
    if c.get("outcome") == "failed":
        inner = "<failure message=%s>expected 4 received 3\n  at products.test.js:12</failure>" % quoteattr(c.get("message", "boom"))
    elif c.get("outcome") == "error":
        inner = "<error message='TypeError: x is undefined'/>"
    elif c.get("outcome") == "skipped":
        inner = "<skipped/>"
    body.append("<testcase classname=%s name=%s file=%s time='0.25'>%s</testcase>" % (quoteattr(c["classname"]), quoteattr(c["name"]), quoteattr(c["file"]), inner))
open(out, "w").write("<?xml version='1.0'?><testsuites name='jest tests'><testsuite name='products'>%s</testsuite></testsuites>" % "".join(body))
sys.exit(1 if any(c.get("outcome") in ("failed", "error") for c in cases) else 0)
'''

CASES = [
    {"classname": "products", "name": "lists products", "file": "products.test.js"},
    {"classname": "products", "name": "gets one product (by id)", "file": "products.test.js"},
    {"classname": "orders", "name": "creates an order", "file": "orders.test.js"},
]


def toml(extra: str = "", listing: bool = False) -> str:
    list_command = 'list_command = ["{python}", "run.py", "--list"]\nlist_unit = "files"\n' if listing else ""
    return config_head("throwaway") + textwrap.dedent('''
        [services.products]

        [environments.integration.services.products]
        url = "http://127.0.0.1:9/"

        [suite]
        runner = "junit"
        cwd = "runner"
        command = ["{python}", "run.py"]
        junit_xml = "reports/*.xml"
        rerun = ["{python}", "run.py", "-t", "^{name_regex}$"]
        filter_args = ["-t", "--testNamePattern"]
        {list_command}
        [[suite.tests]]
        match = "products.test.js::*"
        interfaces = ["products:GET /products"]
        critical = true
        ''').replace("{list_command}", list_command) + extra


class Project:
    """A system whose suite is the JUnit runner above, with its RunContext and the events it emitted."""

    def __init__(self, root: Path, text: str) -> None:
        (root / "runner").mkdir()
        (root / "runner" / "run.py").write_text(RUNNER)
        (root / "interlock.toml").write_text(text)
        self.root = root
        self.cases(CASES)
        self.events: list[Event] = []
        self.ctx = self.context()

    def context(self, args: tuple[str, ...] = ()) -> RunContext:
        spec = runspec.build(config.load(self.root / "interlock.toml"), "integration", pytest_args=args)
        return RunContext(spec, ArtifactDir(self.root / ".artifacts/integration"), self.events.append, lambda kind: (True, "test"), "run-1")

    def cases(self, cases: list[dict[str, str]]) -> None:
        (self.root / "runner" / "cases.json").write_text(json.dumps(cases))

    def mode(self, mode: str) -> None:
        (self.root / "runner" / "mode").write_text(mode)

    def run(self, *args: str) -> tuple[str, dict[str, Any]]:
        outcome = run_suite(self.context(args)) if args else run_suite(self.ctx)
        report = json.loads((self.root / ".artifacts/integration/test-execution-report.json").read_text())
        assert validation_errors("test-execution-report", report) == []
        return str(outcome.status), report


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path, toml())


def test_a_passing_junit_suite_passes_with_its_records_mapped(project: Project) -> None:
    status, report = project.run()
    assert status == StepStatus.PASS
    section = report["interlock"]
    assert section["runner"] == "junit" and section["summary"]["passed"] == 3 and section["filtered"] is False
    by_id = {t["nodeid"]: t for t in report["tests"]}
    assert set(by_id) == {"products.test.js::lists products", "products.test.js::gets one product (by id)", "orders.test.js::creates an order"}
    first = by_id["products.test.js::lists products"]
    assert first["metadata"]["interfaces"] == ["products:GET /products"] and "critical" in first["keywords"]
    assert first["call"]["duration"] == 0.25
    assert by_id["orders.test.js::creates an order"]["metadata"]["interfaces"] == [] and "critical" not in by_id["orders.test.js::creates an order"]["keywords"]
    assert report_filter(section) is None
    assert not list((project.root / "runner" / "reports").iterdir())  # moved out of the work tree: the run identity stays put
    assert "lists products" in (project.root / ".artifacts/integration/logs/junit-xml/1-junit.xml").read_text()


def test_a_failing_test_is_a_critical_failure_with_the_runners_own_rerun_command(project: Project) -> None:
    project.cases([{**CASES[1], "outcome": "failed", "message": "expected 4 received 3"}, CASES[2]])
    status, report = project.run()
    assert status == StepStatus.FAIL
    [failure] = report["interlock"]["failures"]
    assert failure["nodeid"] == "products.test.js::gets one product (by id)" and failure["critical"] is True
    assert failure["message"] == "expected 4 received 3"
    assert failure["rerun"].startswith("cd runner && ") and failure["rerun"].endswith("run.py -t '^gets one product \\(by id\\)$'")
    [defect] = [f for f in failures_from(None, None, report, "integration") if f.source == "test"]
    assert defect.severity == "critical" and defect.rerun == failure["rerun"]


@pytest.mark.parametrize("mode, words", [("none", "wrote no JUnit XML"), ("garbage", "is not JUnit XML")])
def test_a_runner_that_writes_no_or_garbage_xml_did_not_run(project: Project, mode: str, words: str) -> None:
    project.mode(mode)
    status, report = project.run()
    assert status == StepStatus.FAIL
    assert words in report["interlock"]["failures"][-1]["message"] and "did not run" in report["interlock"]["failures"][-1]["message"]


def test_no_test_case_is_a_suite_that_did_not_run(project: Project) -> None:
    project.cases([])
    status, report = project.run()
    assert status == StepStatus.FAIL and "no test case" in report["interlock"]["failures"][-1]["message"]


def test_stale_xml_of_a_previous_run_is_removed_first(project: Project) -> None:
    assert project.run()[0] == StepStatus.PASS
    project.mode("none")  # writes nothing now: the old file must not read as this run's pass
    assert project.run()[0] == StepStatus.FAIL


def test_filter_args_make_a_filtered_run(project: Project) -> None:
    status, report = project.run("-t", "lists")
    section = report["interlock"]
    assert section["filtered"] is True and "'-t' from the command line" in section["filter"]
    assert report_filter(section) is not None


def test_fewer_tests_than_the_previous_complete_run_on_this_identity_is_filtered(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLOCK_GIT_COMMIT", "a" * 40)
    assert project.run()[1]["interlock"]["filtered"] is False
    project.cases(CASES[:2])  # a test is gone without any argument saying so (a `.only`, a config change)
    report = project.run()[1]
    assert report["interlock"]["filtered"] is True and "2 of the suite's 3 test(s) ran" in report["interlock"]["filter"]
    project.cases(CASES)
    report = project.run()[1]  # the filtered run in between carried the expectation forward
    assert report["interlock"]["filtered"] is False and report["interlock"]["junit_selection"]["expected"]["count"] == 3


def test_another_identity_starts_a_new_expectation(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLOCK_GIT_COMMIT", "a" * 40)
    project.run()
    monkeypatch.setenv("INTERLOCK_GIT_COMMIT", "b" * 40)
    project.cases(CASES[:2])
    report = project.run()[1]
    assert report["interlock"]["filtered"] is False and report["interlock"]["junit_selection"]["expected"] is None
    assert any(isinstance(e, Notice) and "no expected size" in e.message for e in project.events)


def test_list_command_sizes_the_suite_by_files(tmp_path: Path) -> None:
    project = Project(tmp_path, toml(listing=True))
    report = project.run()[1]
    assert report["interlock"]["filtered"] is False
    assert report["interlock"]["junit_selection"]["expected"] == {"count": 2, "unit": "files", "source": report["interlock"]["junit_selection"]["expected"]["source"]}
    (tmp_path / "runner" / "listed.json").write_text(json.dumps(CASES))
    project.cases(CASES[:2])  # both files listed, only products.test.js ran
    report = project.run()[1]
    assert report["interlock"]["filtered"] is True and "orders.test.js did not run" in report["interlock"]["filter"]


def test_a_failing_list_command_leaves_the_run_unproven(tmp_path: Path) -> None:
    project = Project(tmp_path, toml(listing=True).replace('"--list"]', '"--list", "--explode"]'))
    (tmp_path / "runner" / "run.py").write_text(RUNNER.replace('if "--list" in args:', 'if "--explode" in args:\n    sys.exit(4)\nif "--list" in args:'))
    report = project.run()[1]
    assert report["interlock"]["filtered"] is True and "list_command failed (exit 4" in report["interlock"]["filter"]


def test_arguments_that_are_not_filters_need_an_expected_count(project: Project) -> None:
    report = project.run("--verbose")[1]
    assert report["interlock"]["filtered"] is True and "no expected count" in report["interlock"]["filter"]


def test_pytest_options_are_refused_not_ignored(project: Project) -> None:
    with pytest.raises(UsageError, match="--maxfail"):
        project.run("--maxfail=1")
    with pytest.raises(UsageError, match="--shard"):
        project.run("--interlock-shard", "1/2")


def test_a_junit_report_without_its_selection_record_is_no_evidence() -> None:
    assert report_filter({"runner": "junit", "filtered": False}) is not None
    assert report_filter({"runner": "junit", "filtered": False, "junit_selection": {}}) is None


def test_scope_takes_a_junit_suites_tests_from_its_last_report(project: Project) -> None:
    assert collect_tests(project.ctx) == []
    project.run()
    found = {t["nodeid"]: t["interfaces"] for t in collect_tests(project.ctx)}
    assert found["products.test.js::lists products"] == ["products:GET /products"]


def test_repeated_ids_stay_distinct(tmp_path: Path) -> None:
    xml = tmp_path / "r.xml"
    xml.write_text("<testsuite name='s' file='a.test.js'>"
                   "<testcase classname='A' name='works'/><testcase classname='B' name='works'><failure message='no'/></testcase>"
                   "<testcase classname='B' name='works'/></testsuite>")
    cases = read_cases(xml)
    assert ids_of(cases) == ["a.test.js::A::works", "a.test.js::B::works", "a.test.js::B::works[2]"]
    assert [c.outcome for c in cases] == ["passed", "failed", "passed"]


def test_garbage_and_non_junit_xml_are_unreadable(tmp_path: Path) -> None:
    for text in ("<testsuites><testcase", "<html><body/></html>"):
        (tmp_path / "r.xml").write_text(text)
        with pytest.raises(UnreadableXml):
            read_cases(tmp_path / "r.xml")


def test_rerun_template_fills_names_once_and_escapes_regex() -> None:
    test = {"nodeid": "a.test.js::gets {id} (1)", "junit": {"name": "gets {id} (1)", "classname": "A", "file": "a.test.js"}}
    assert fill(["jest", "-t", "{name_regex}", "{file}"], fields_of(test)) == ["jest", "-t", r"gets \{id\} \(1\)", "a.test.js"]
    assert fill(["x", "{name}"], fields_of(test)) == ["x", "gets {id} (1)"]
    assert re.fullmatch(regex_of("a.b*c?"), "a.b*c?") and not re.fullmatch(regex_of("a.b"), "axb")


def test_records_of_a_suite_without_a_mapping_are_not_critical(project: Project) -> None:
    xml = project.root / "r.xml"
    xml.write_text("<testsuite name='s'><testcase classname='pkg.Orders' name='TestCreate'/></testsuite>")
    [record] = records(project.ctx.config.suite, read_cases(xml))
    assert record["nodeid"] == "pkg.Orders::TestCreate" and record["keywords"] == ["TestCreate"]


def test_filter_words_and_decide() -> None:
    assert filter_words(["-t", "x", "--testNamePattern=y", "-tz", "--verbose"], ["-t", "--testNamePattern"]) == ["-t", "--testNamePattern=y", "-tz"]
    assert junit_decide([], [], Expected(3, "tests", "x"), 3, None) == []
    assert junit_decide([], [], Expected(3, "tests", "x"), 2, None) != []
    assert junit_decide([], [], Expected(2, "files", "x"), 3, None) != []  # files expected, none named: unproven


@pytest.mark.parametrize("suite, words", [
    ('runner = "junit"\ncommand = ["jest"]', "junit_xml"),
    ('runner = "junit"\njunit_xml = "r.xml"', "command"),
    ('command = ["jest"]', 'only apply with runner = "junit"'),
    ('runner = "junit"\ncommand = ["jest"]\njunit_xml = "r.xml"\nrerun = ["jest", "-t", "{title}"]', "{title}"),
])
def test_config_refuses_an_incomplete_junit_suite(tmp_path: Path, suite: str, words: str) -> None:
    (tmp_path / "interlock.toml").write_text(config_head("t") + "\n[services.a]\n[environments.e.services.a]\nurl = \"http://127.0.0.1:9\"\n[suite]\n" + suite + "\n")
    with pytest.raises(ConfigError, match=re.escape(words)):
        config.load(tmp_path / "interlock.toml")


def test_regression_reruns_each_defect_with_the_runners_filter_and_reopens_one_still_failing(project: Project) -> None:
    from interlock.defects import DefectLog
    from interlock.phases.triage import triaged
    from interlock.regression import run as regress

    failing = [{**CASES[0], "outcome": "failed"}, {**CASES[1], "outcome": "failed"}, CASES[2]]
    project.cases(failing)
    report = project.run()[1]
    rows = triaged(project.ctx.config, [], failures_from(None, None, report, "integration"), "run-1")
    assert [r["rerun"].split(" -t ")[-1] for r in rows] == ["'^lists products$'", "'^gets one product \\(by id\\)$'"]
    for row in rows:
        row["status"] = "resolved"
    DefectLog(project.ctx.artifacts).write(rows)
    project.cases([CASES[0], {**CASES[1], "outcome": "failed"}, CASES[2]])  # one fixed, one not
    calls = project.root / "runner" / "calls.txt"
    (project.root / "runner" / "run.py").write_text(RUNNER.replace("args = sys.argv[1:]", f"args = sys.argv[1:]\nopen({str(calls)!r}, 'a').write(' '.join(args) + '\\n')"))
    outcome = regress(project.ctx)
    assert outcome.status == StepStatus.FAIL and outcome.reason is not None and "(fail)" in outcome.reason
    after = {r["title"]: (r["status"], r["regression"]) for r in DefectLog(project.ctx.artifacts).read()}
    assert after == {"test products.test.js::lists products failed": ("resolved", "pass"),
                     "test products.test.js::gets one product (by id) failed": ("open", "fail")}
    lines = calls.read_text().splitlines()
    assert len(lines) == 6 and all(line.startswith("-t ^") for line in lines)
    assert "each defect's test reruns alone" in project.ctx.artifacts.path("regression-summary.md").read_text()


def test_a_critical_mapping_that_matches_no_test_fails_and_a_plain_one_is_noted(tmp_path: Path) -> None:
    extra = '''
[[suite.tests]]
match = "checkout.test.js::*"
critical = true

[[suite.tests]]
match = "search.test.js::*"
interfaces = ["products:GET /search"]
'''
    project = Project(tmp_path, toml(extra))
    status, report = project.run()
    assert status == StepStatus.FAIL
    [failure] = report["interlock"]["failures"]
    assert failure["nodeid"] == "[[suite.tests]] checkout.test.js::*" and failure["critical"] is True and "matches no test" in failure["message"]
    assert any(isinstance(e, Notice) and "'search.test.js::*' matches no test" in e.message for e in project.events)
    filtered = project.run("-t", "lists")[1]  # a narrowed run leaves tests out on purpose: no such failure
    assert not any(f["nodeid"].startswith("[[suite.tests]]") for f in filtered["interlock"]["failures"])


def test_a_resolved_suite_that_did_not_run_is_fixed_only_when_the_whole_suite_reruns_clean(project: Project) -> None:
    from interlock.defects import DefectLog
    from interlock.phases.triage import triaged
    from interlock.regression import run as regress

    project.mode("none")
    report = project.run()[1]
    rows = triaged(project.ctx.config, [], failures_from(None, None, report, "integration"), "run-1")
    assert [r["evidence"] for r in rows] == ["test-execution-report.json#reports/*.xml"]
    rows[0]["status"] = "resolved"
    DefectLog(project.ctx.artifacts).write(rows)
    assert regress(project.ctx).status == StepStatus.FAIL  # still writes no XML: reopened
    assert DefectLog(project.ctx.artifacts).read()[0]["status"] == "open"
    rows = DefectLog(project.ctx.artifacts).read()
    rows[0]["status"] = "resolved"
    DefectLog(project.ctx.artifacts).write(rows)
    project.mode("ok")
    assert regress(project.ctx).status == StepStatus.PASS
    assert DefectLog(project.ctx.artifacts).read()[0]["regression"] == "pass"


def test_list_pattern_counts_only_matching_lines_as_tests(tmp_path: Path) -> None:
    # like `go test -list .`: one line per test, then an `ok` line the pattern leaves out
    lister = 'import sys\nprint("lists products\\ngets one product (by id)\\ncreates an order\\nok  \\tshop\\t0.003s")\n'
    text = toml().replace('filter_args = ["-t", "--testNamePattern"]',
                          'filter_args = ["-t", "--testNamePattern"]\nlist_command = ["{python}", "list.py"]\nlist_pattern = "^(?!ok )"')
    project = Project(tmp_path, text)
    (tmp_path / "runner" / "list.py").write_text(lister)
    report = project.run()[1]
    assert report["interlock"]["filtered"] is False and report["interlock"]["junit_selection"]["expected"]["count"] == 3
    project.cases(CASES[:2])
    report = project.run()[1]
    assert report["interlock"]["filtered"] is True and "2 of the suite's 3 test(s) ran (expected from `" in report["interlock"]["filter"]
    (tmp_path / "interlock.toml").write_text(text.replace("^(?!ok )", "(unclosed"))
    with pytest.raises(ConfigError, match="not a regular expression"):
        config.load(tmp_path / "interlock.toml")
