"""interlock.selection: whether a run is the whole suite, from pytest's own record of what it selected, and Gate 3 on a written report."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from interlock.artifacts import ArtifactDir
from interlock.metrics import read_metrics
from interlock.selection import (ELSEWHERE, NO_RECORD, Suite, combine_selections, critical_not_run, decide, disagreements, record_problem,
                                 report_filter)
from tests.support import whole_suite_selection

ROOT = Path("/sut")
SUITE = ["tests/test_a.py::test_one", "tests/test_a.py::test_two", "tests/test_b.py::test_three"]
UNIT = "tests/test_unit.py::test_plain"


def record(**changes: Any) -> dict[str, Any]:
    """What the plugin records for a run of the whole suite (-m integration over tests/), changed as given."""
    base: dict[str, Any] = {
        "version": 1, "pytest": "9.2.0", "rootdir": "/sut", "invocation_dir": "/sut",
        "argv": ["-m", "integration", "--interlock-selection", "/tmp/x", "--interlock-suite-marker", "integration", "tests"],
        "ini": {"path": "/sut/pytest.ini", "addopts": ["-p", "no:cacheprovider"]}, "environment": {},
        "suite_marker": "integration", "markexpr": "integration", "keyword": "", "targets": ["tests"], "ignore": [], "ignore_glob": [],
        "deselect": [], "last_failed": False, "stepwise": False, "maxfail": 0, "bodies_skipped": [], "shard": None, "collections": 1, "collections_agree": True,
        "collection": {"collected": [*SUITE, UNIT], "suite": list(SUITE), "critical": [SUITE[1]], "selected": list(SUITE),
                       "deselected": {UNIT: "pytest"}},
        "ran": list(SUITE), "exitstatus": 0,
    }
    collection = changes.pop("collection", {})
    base.update(changes)
    if collection is None:
        base["collection"] = None
    else:
        base["collection"].update(collection)
    return base


def suite(args: list[str] | None = None, extra: list[str] | None = None, last_failed: bool = False) -> Suite:
    return Suite("integration", "tests", ROOT, args or [], extra or [], last_failed)


def narrowed(keyword: str = "one") -> dict[str, Any]:
    """A record where `-k` left one test of three."""
    return {"keyword": keyword, "collection": {"selected": [SUITE[0]], "deselected": {UNIT: "pytest", SUITE[1]: "pytest", SUITE[2]: "pytest"}},
            "ran": [SUITE[0]]}


def test_the_whole_suite_is_not_filtered_and_its_counts_are_recorded() -> None:
    decision = decide(record(), suite())
    assert decision.reasons == [] and decision.filter is None and decision.shard is None
    section = decision.section
    assert section is not None and section["counts"] == {"collected": 4, "suite": 3, "selected": 3, "deselected": 1, "ran": 3}
    assert section["command"][:2] == ["-p", "no:cacheprovider"] and section["critical"] == [SUITE[1]] and section["narrowing"] == []


def test_no_record_or_an_unreadable_one_is_filtered() -> None:
    assert decide(None, suite()).reasons == [NO_RECORD]
    broken = record()
    del broken["ran"]
    [reason] = decide(broken, suite()).reasons
    assert reason.startswith("pytest's selection record is unreadable ($: 'ran' is a required property)")
    assert record_problem(record()) is None
    [never] = decide(record(collection=None), suite()).reasons
    assert never.startswith("pytest never finished collecting")
    unknown = decide(record(collection={"suite": None}), suite()).reasons
    assert unknown[0].startswith("pytest 9.2.0 could not evaluate the suite's marker expression 'integration'")


@pytest.mark.parametrize(("where", "expected"), [
    ({"environment": {"PYTEST_ADDOPTS": "-k one"}}, "PYTEST_ADDOPTS"),
    ({"ini": {"path": "/sut/pytest.ini", "addopts": ["-kone"]}}, "ini addopts (/sut/pytest.ini)"),
    ({}, ELSEWHERE),  # a conftest.py that set config.option.keyword itself
])
def test_k_is_named_with_the_place_it_came_from(where: dict[str, Any], expected: str) -> None:
    reasons = decide(record(**where, **narrowed()), suite()).reasons
    assert reasons[0] == f"-k 'one' from {expected}"
    assert reasons[1].startswith(f"2 of the suite's 3 test(s) not selected: {SUITE[1]}, {SUITE[2]}")


def test_k_from_the_suite_args_or_the_command_line_and_the_later_source_wins() -> None:
    assert decide(record(**narrowed()), suite(args=["-k", "one"])).reasons[0] == "-k 'one' from the config's suite args"
    both = record(environment={"PYTEST_ADDOPTS": "-k two"}, **narrowed())
    assert decide(both, suite(extra=["-k", "one"])).reasons[0] == "-k 'one' from the command line"  # PYTEST_ADDOPTS said 'two'; the command line won


def test_a_marker_expression_other_than_the_suites_is_narrowing_wherever_it_came_from() -> None:
    changed = record(markexpr="integration and not slow")
    [reason] = decide(changed, suite(args=["-m", "integration and not slow"])).reasons
    assert reason.startswith("-m 'integration and not slow' from the config's suite args (the suite is -m 'integration'")
    told = decide(record(suite_marker="smoke"), suite()).reasons
    assert told == ["pytest was told the suite is -m 'smoke', the config says 'integration'"]


def test_targets_narrower_than_the_suite_folder_are_named_and_a_parent_folder_is_not() -> None:
    node = SUITE[0]
    one = record(targets=[node], collection={"collected": [node], "suite": [node], "critical": [], "selected": [node], "deselected": {}}, ran=[node])
    assert decide(one, suite(extra=[node])).reasons == [f"1 target(s) from the command line: {node}"]
    last = decide(one, suite(extra=[node], last_failed=True)).reasons
    assert last == [f"--last-failed: 1 target(s) from the command line: {node}"]
    from_env = decide(record(targets=["tests/test_b.py", "tests/test_a.py"], environment={"PYTEST_ADDOPTS": "tests/test_b.py"}), suite(extra=["tests/test_a.py"]))
    assert from_env.reasons[0] == "2 target(s) from PYTEST_ADDOPTS, the command line: tests/test_b.py, tests/test_a.py"
    assert decide(record(targets=["."]), suite()).reasons == []  # the folder above the suite collects all of it
    assert decide(record(targets=["tests", "tests/test_a.py::test_one"]), suite()).reasons == []


def test_ignore_deselect_last_failed_and_stepwise_are_narrowing() -> None:
    reasons = decide(record(ignore=["tests/test_b.py"], ini={"path": "/sut/pytest.ini", "addopts": ["--ignore=tests/test_b.py"]}), suite()).reasons
    assert reasons == ["--ignore 'tests/test_b.py' from ini addopts (/sut/pytest.ini)"]
    gone = {"selected": SUITE[:2], "deselected": {UNIT: "pytest", SUITE[2]: "pytest"}}
    reasons = decide(record(deselect=[SUITE[2]], collection=gone, ran=SUITE[:2]), suite(args=["--deselect", SUITE[2]])).reasons
    assert reasons[0] == f"--deselect '{SUITE[2]}' from the config's suite args" and reasons[1].startswith("1 of the suite's 3 test(s) not selected")
    assert decide(record(last_failed=True), suite(extra=["--lf"])).reasons == ["--last-failed from the command line"]
    assert decide(record(stepwise=True), suite(args=["--sw"])).reasons == ["--stepwise from the config's suite args"]
    assert decide(record(bodies_skipped=["--setup-only"], environment={"PYTEST_ADDOPTS": "--setup-only"}), suite()).reasons == [
        "--setup-only from PYTEST_ADDOPTS: no test body ran"]


def test_tests_another_plugin_deselected_or_silently_dropped_are_counted() -> None:
    dropped = {"selected": SUITE[:1], "deselected": {UNIT: "pytest", SUITE[1]: "pytest"}}  # SUITE[2]: removed without pytest_deselected
    reasons = decide(record(collection=dropped, ran=SUITE[:1]), suite()).reasons
    assert reasons == [f"2 of the suite's 3 test(s) not selected: {SUITE[1]}, {SUITE[2]}"]
    decision = decide(record(collection=dropped, ran=SUITE[:1]), suite())
    assert decision.section is not None and decision.section["critical_not_selected"] == [SUITE[1]]


def test_a_shard_is_not_narrowing_of_its_own_but_is_recorded() -> None:
    split = {"selected": SUITE[:1], "deselected": {UNIT: "pytest", SUITE[1]: "--interlock-shard", SUITE[2]: "--interlock-shard"}}
    decision = decide(record(shard="1/3", collection=split, ran=SUITE[:1]), suite(extra=["--interlock-shard", "1/3"]))
    assert decision.reasons == [] and decision.shard == "1/3"
    assert decision.section is not None and decision.section["not_selected"]["count"] == 0 and decision.section["critical_not_selected"] == []


def test_a_run_that_stopped_before_every_selected_test_ran_is_filtered() -> None:
    assert decide(record(maxfail=1, ran=SUITE[:1]), suite()).reasons == [
        f"stopped early: 2 selected test(s) did not run (--maxfail=1): {SUITE[1]}, {SUITE[2]}"]
    assert decide(record(ran=[]), suite()).reasons[0].startswith("stopped early: 3 selected test(s) did not run (-x, --maxfail or pytest was stopped)")
    assert decide(record(collections_agree=False), suite()).reasons == ["pytest-xdist workers collected different tests"]


def section(**changes: Any) -> dict[str, Any]:
    return {"filtered": False, "pytest_selection": whole_suite_selection(SUITE), **changes}


def test_a_written_report_is_filtered_when_marked_so_unmarked_a_lone_shard_or_without_a_record() -> None:
    assert report_filter(section()) is None
    assert report_filter(section(filtered=True, filter="-k 'x' from PYTEST_ADDOPTS")) == "-k 'x' from PYTEST_ADDOPTS"
    unmarked = section()
    del unmarked["filtered"]
    assert report_filter(unmarked) == "the report does not say whether it was filtered"
    assert report_filter(section(shard="1/4")) == "a single shard (1/4) that `interlock merge` did not combine with the others"
    assert report_filter(section(shard="1/4", merged=[{"shard": "1/4"}])) is None
    assert report_filter({"filtered": False}) == "no record of what pytest selected (interlock.pytest_selection): rerun `interlock test`"


def test_a_summary_that_disagrees_with_pytests_records_names_both_numbers() -> None:
    summary = {"collected": 8, "total": 8, "passed": 8, "failed": 0, "skipped": 0, "errors": 0, "deselected": 0}
    empty = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0, "total": 0}
    found = disagreements(summary, empty, 8, 8)
    assert found[0] == "interlock summary says 8 ran, pytest's records list 0"
    assert "pytest's summary says 8 test(s), its records list 0" in found
    assert "pytest's selection record says 8 test(s) ran, pytest's records list 0" in found
    assert disagreements(summary, {**empty, "passed": 8, "total": 8}, 8, 8) == []
    assert disagreements(summary, {**empty, "passed": 7, "failed": 1, "total": 8}, 8, None) == [
        "interlock summary says 8 passed, pytest's records list 7", "interlock summary says 0 failed, pytest's records list 1"]


def test_critical_tests_that_did_not_run_are_named_with_why() -> None:
    chosen = {"critical": ["a::skipped", "a::gone", "a::deselected", "a::failed", "a::xfail"], "critical_not_selected": ["a::deselected"]}
    outcomes = {"a::skipped": "skipped", "a::failed": "failed", "a::xfail": "xfailed", "a::marked": "skipped", "a::ran": "passed"}
    assert critical_not_run(outcomes, ["a::marked", "a::ran"], chosen) == [
        ("a::skipped", "skipped"), ("a::gone", "missing from pytest's records"), ("a::deselected", "deselected"),
        ("a::xfail", "xfailed (an expected failure proves nothing)"), ("a::marked", "skipped")]
    assert critical_not_run({"a::ran": "passed"}, ["a::ran"], None) == []


def test_shard_selections_combine_into_the_whole_suites() -> None:
    one = {**whole_suite_selection(SUITE[:2], critical=(SUITE[1],)), "shard": "1/2"}
    two = {**whole_suite_selection(SUITE[2:]), "shard": "2/2"}
    one["counts"].update(collected=4, suite=3)
    two["counts"].update(collected=4, suite=3)
    merged = combine_selections([(one, ROOT, ROOT), (two, ROOT, ROOT)])
    assert merged is not None and merged["shard"] is None and merged["critical"] == [SUITE[1]]
    assert merged["counts"] == {"collected": 4, "suite": 3, "selected": 3, "deselected": 0, "ran": 3}
    assert combine_selections([]) is None


# ---- Gate 3 on a report in an artifact folder ------------------------------------------------------------------------


def report(critical_outcome: str = "passed") -> dict[str, Any]:
    tests = [{"nodeid": SUITE[0], "outcome": "passed", "keywords": ["integration"]},
             {"nodeid": SUITE[1], "outcome": critical_outcome, "keywords": ["integration", "critical"]},
             {"nodeid": SUITE[2], "outcome": "passed", "keywords": ["integration"]}]
    passed = sum(t["outcome"] == "passed" for t in tests)
    return {"created": 1.0, "duration": 1.0, "exitcode": 0, "root": "/sut", "summary": {"total": 3, "collected": 4, "deselected": 1}, "tests": tests,
            "interlock": {"command": ["pytest"], "exit_code": 0, "log": "logs/pytest.log", "environment": "integration",
                          "summary": {"collected": 4, "total": 3, "passed": passed, "failed": 0, "skipped": 3 - passed, "errors": 0, "deselected": 1},
                          "failures": [], "system_root": "/sut", "commit": None, "filtered": False,
                          "pytest_selection": whole_suite_selection(SUITE, critical=(SUITE[1],))}}


def metrics_of(tmp_path: Path, data: Any) -> dict[str, Any]:
    folder = tmp_path / "artifacts"
    folder.mkdir(exist_ok=True)
    (folder / "test-execution-report.json").write_text(json.dumps(data))
    found = read_metrics(ArtifactDir(folder), None, evidence=False)
    return {name: (found[name].value, found[name].reason) for name in ("tests_ran", "tests_filtered", "tests_disagreement", "critical_not_run")}


def test_an_intact_report_passes_and_each_hand_edit_fails_its_condition(tmp_path: Path) -> None:
    assert metrics_of(tmp_path, report()) == {"tests_ran": (3, None), "tests_filtered": (0, None), "tests_disagreement": (0, None),
                                              "critical_not_run": (0, None)}
    emptied = report()
    emptied["tests"], emptied["summary"]["total"] = [], 0
    found = metrics_of(tmp_path, emptied)
    assert found["tests_ran"][0] == 0 and found["tests_disagreement"][0] >= 1
    assert found["tests_disagreement"][1].startswith("interlock summary says 3 ran, pytest's records list 0")
    assert found["critical_not_run"] == (1, f"@critical test(s) that did not run: {SUITE[1]}: missing from pytest's records")
    skipped = metrics_of(tmp_path, report("skipped"))
    assert skipped["critical_not_run"] == (1, f"@critical test(s) that did not run: {SUITE[1]}: skipped") and skipped["tests_disagreement"] == (0, None)
    shard = report()
    shard["interlock"].update(shard="1/4", suite={"tests": 12, "sha256": "ab"}, partition="p", balance="hash", selection=SUITE)
    assert metrics_of(tmp_path, shard)["tests_filtered"] == (1, "filtered run: not complete evidence (a single shard (1/4) that `interlock merge` "
                                                                 "did not combine with the others)")


def test_a_report_gate_3_cannot_read_fails_every_test_condition_with_one_line(tmp_path: Path) -> None:
    plain = copy.deepcopy(report())
    del plain["interlock"]
    for value, reason in metrics_of(tmp_path, plain).values():
        assert value is None and reason.startswith("test-execution-report.json is not in the shape interlock writes ($: 'interlock' is a required property)")
    unflagged = report()
    del unflagged["interlock"]["filtered"]
    for value, reason in metrics_of(tmp_path, unflagged).values():
        assert value is None and reason == ("test-execution-report.json is not in the shape interlock writes ($.interlock: 'filtered' is a required property): "
                                            "rerun `interlock test`")
    odd = report()
    odd["tests"][0]["outcome"] = "PASSED"
    assert metrics_of(tmp_path, odd)["tests_ran"][1].startswith("test-execution-report.json breaks its schema ($.tests[0].outcome:")


def test_pytest_variables_in_the_report_have_credentials_masked() -> None:
    from interlock.secrets import redact_variables

    token = "ghp_" + "a1B2" * 9
    masked = redact_variables({"PYTEST_ADDOPTS": f"-k smoke --api-token {token}", "PYTEST_DB_PASSWORD": "hunter2hunter2",
                               "PYTEST_PLUGINS": "x", "PYTEST_BASE_URL": "http://user:s3cretpass@db:5432/x"})
    assert masked == {"PYTEST_ADDOPTS": "-k smoke --api-token ***", "PYTEST_DB_PASSWORD": "***", "PYTEST_PLUGINS": "x",
                      "PYTEST_BASE_URL": "http://user:***@db:5432/x"}


def test_gates_on_a_lone_shard_or_a_plain_pytest_json_report_fail_with_one_line_each(tmp_path: Path) -> None:
    from tests.unit.test_cli_phase3 import System

    system = System(tmp_path / "sut")
    system.file("test_a.py", "import pytest\npytestmark = pytest.mark.integration\n" + "".join(f"def test_{n}():\n    pass\n" for n in range(4)))
    assert system.interlock("test", "--shard", "1/2", "--yes").code == 0
    shard = json.loads((system.artifacts / "test-execution-report.shard-1-of-2.json").read_text())
    assert shard["interlock"]["filtered"] is False  # the shard itself is not narrowed beyond its split: the merge can combine it
    (system.artifacts / "test-execution-report.json").write_text(json.dumps(shard))  # a shard renamed to the full report
    renamed = system.interlock("gates")
    assert renamed.code == 1 and "internal error" not in renamed.output
    filtered = next(c for c in system.gate(3)["conditions"] if c["id"] == "tests.filtered")
    assert filtered["status"] == "fail" and "a single shard (1/2) that `interlock merge` did not combine with the others" in filtered["reason"]
    del shard["interlock"]
    (system.artifacts / "test-execution-report.json").write_text(json.dumps(shard))  # pytest-json-report's own file, as pytest wrote it
    plain = system.interlock("gates")
    assert plain.code == 1 and "internal error" not in plain.output and "Traceback" not in plain.output, plain.output
    [line] = [line for line in plain.stdout.splitlines() if "tests.ran" in line]
    assert line.strip().endswith("tests.ran: test-execution-report.json is not in the shape interlock writes "
                                 "($: 'interlock' is a required property): rerun `interlock test`")
