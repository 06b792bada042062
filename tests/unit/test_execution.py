"""Steps 3.1 and 3.3 against throwaway projects: real pytest subprocesses, real reports."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from interlock import runspec
from interlock import config
from interlock.artifacts import ArtifactDir, validation_errors
from interlock.defects import COLUMNS, read_log
from interlock.events import AutomationExecuted, Event, Progress
from interlock.execution import ReportFormatError, _Progress, collect_tests, dumps_report, read_report, run_suite, suite_command, write_report
from interlock.regression import NOTHING
from interlock.regression import run as regress
from interlock.context import RunContext
from interlock.secrets import MASK, Redactor
from tests.support import config_head

TOML = config_head("throwaway") + """
[services.catalog]

[environments.integration.services.catalog]
url = "http://127.0.0.1:9/"

[suite]
timeout = {timeout}
args = ["-p", "no:hypothesispytest", "-p", "no:schemathesis", "-p", "no:pact", "-p", "no:anyio"]
"""


class Project:
    """A system under test in tmp_path with its RunContext and the events it emitted."""

    def __init__(self, root: Path, timeout: int) -> None:
        (root / "tests").mkdir()
        (root / "interlock.toml").write_text(TOML.format(timeout=timeout))
        self.root = root
        self.events: list[Event] = []
        self.ctx = RunContext(runspec.build(config.load(root / "interlock.toml"), "integration"), ArtifactDir(root / ".artifacts/integration"),
                              self.events.append, lambda kind: (True, "test"), "run-1")

    def test_file(self, name: str, source: str) -> None:
        (self.root / "tests" / name).write_text(textwrap.dedent(source))

    def report(self) -> dict[str, Any]:
        return json.loads((self.ctx.artifacts.path("test-execution-report.json")).read_text())

    def automation(self) -> list[str]:
        return [e.status for e in self.events if isinstance(e, AutomationExecuted)]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path, timeout=60)


def test_passing_suite_passes_and_records_everything(project: Project) -> None:
    project.test_file("test_ok.py", """
        import pytest
        pytestmark = pytest.mark.integration
        def test_url(service_url):
            assert service_url("catalog") == "http://127.0.0.1:9"
        def test_two():
            pass
        @pytest.mark.integration
        def test_three():
            pass
    """)
    project.test_file("test_unit.py", "def test_not_integration():\n    pass\n")
    outcome = run_suite(project.ctx, [])
    assert (outcome.status, outcome.reason) == ("pass", None)
    report = project.report()
    assert validation_errors("test-execution-report", report) == []
    section = report["interlock"]
    assert section["summary"] == {"collected": 4, "total": 3, "passed": 3, "failed": 0, "skipped": 0, "errors": 0, "deselected": 1}
    assert section["failures"] == [] and section["exit_code"] == 0 and section["environment"] == "integration"
    assert section["command"][-1] == "tests" and "-m" in section["command"]
    log = project.ctx.artifacts.path("logs/pytest.log").read_text()
    assert "3 passed, 1 deselected" in log
    progress = [e for e in project.events if isinstance(e, Progress)]
    assert progress and (progress[-1].step, progress[-1].done, progress[-1].total) == ("3.1", 3, 3)
    assert project.automation() == ["PASS"]
    assert not list(project.ctx.artifacts.root.glob(".pytest-*"))


def test_failing_critical_test_is_recorded_with_its_rerun_command(project: Project) -> None:
    project.test_file("test_shop.py", """
        import pytest
        pytestmark = pytest.mark.integration
        def test_ok():
            pass
        @pytest.mark.critical
        @pytest.mark.interface("catalog:GET /products/{id}")
        def test_bad():
            assert 1 == 2
    """)
    outcome = run_suite(project.ctx, [])
    assert (outcome.status, outcome.reason) == ("fail", "1 failed")
    (failure,) = project.report()["interlock"]["failures"]
    assert failure == {
        "nodeid": "tests/test_shop.py::test_bad", "outcome": "failed", "message": "assert 1 == 2", "critical": True,
        "interfaces": ["catalog:GET /products/{id}"], "rerun": "interlock test -- 'tests/test_shop.py::test_bad'",
    }
    assert project.automation() == ["FAIL"]


def test_node_ids_are_relative_to_the_root_when_pytest_roots_higher(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # a monorepo's ini above the system: pytest's rootdir is tmp_path
    (tmp_path / "system").mkdir()
    project = Project(tmp_path / "system", timeout=60)
    project.test_file("test_up.py", "import pytest\n@pytest.mark.integration\ndef test_bad():\n    assert False\n")
    run_suite(project.ctx, [])
    (failure,) = project.report()["interlock"]["failures"]
    assert (failure["nodeid"], failure["rerun"]) == ("tests/test_up.py::test_bad", "interlock test -- 'tests/test_up.py::test_bad'")


def test_all_skipped_fails(project: Project) -> None:
    project.test_file("test_skip.py", """
        import pytest
        pytestmark = [pytest.mark.integration, pytest.mark.skip(reason="service not ready")]
        def test_a():
            pass
        def test_b():
            pass
    """)
    outcome = run_suite(project.ctx, [])
    assert (outcome.status, outcome.reason) == ("fail", "all 2 tests skipped")
    assert project.report()["interlock"]["summary"]["skipped"] == 2


def test_nothing_collected_fails(project: Project) -> None:
    project.test_file("test_unit.py", "def test_not_integration():\n    pass\n")
    outcome = run_suite(project.ctx, [])
    assert outcome.status == "fail" and outcome.reason is not None
    assert outcome.reason.startswith("no tests collected") and "1 deselected" in outcome.reason
    summary = project.report()["interlock"]["summary"]
    assert (summary["total"], summary["collected"], summary["passed"]) == (0, 1, 0)


def test_hanging_test_is_killed_by_the_per_test_timeout(tmp_path: Path) -> None:
    project = Project(tmp_path, timeout=1)
    project.test_file("test_hang.py", """
        import time, pytest
        @pytest.mark.integration
        def test_hangs():
            time.sleep(30)
    """)
    outcome = run_suite(project.ctx, [])
    assert (outcome.status, outcome.reason) == ("fail", "1 failed")
    (failure,) = project.report()["interlock"]["failures"]
    assert failure["nodeid"] == "tests/test_hang.py::test_hangs" and failure["message"].startswith("Failed: Timeout")


def test_run_past_the_wall_clock_is_stopped_and_fails(project: Project) -> None:
    project.test_file("test_hang.py", """
        import time, pytest
        @pytest.mark.integration
        def test_passes():
            pass
        @pytest.mark.integration
        def test_hangs():
            time.sleep(30)
    """)
    outcome = run_suite(project.ctx, [], wall_clock=3)
    assert outcome.status == "fail" and outcome.reason == "pytest did not finish within 3s and was stopped"
    failures = project.report()["interlock"]["failures"]
    assert [(f["nodeid"], f["critical"]) for f in failures] == [("tests", True)]


def test_uncollectable_file_fails_with_the_reason(project: Project) -> None:
    project.test_file("test_ok.py", "import pytest\n@pytest.mark.integration\ndef test_ok():\n    pass\n")
    project.test_file("test_broken.py", "def test_x(:\n    pass\n")
    outcome = run_suite(project.ctx, [])
    assert outcome.status == "fail"
    assert outcome.reason == "pytest could not collect tests/test_broken.py: SyntaxError: invalid syntax"
    report = project.report()
    # --continue-on-collection-errors: the other modules still run, so the defect log is complete
    assert report["interlock"]["summary"]["total"] == 1 and report["interlock"]["summary"]["passed"] == 1
    assert report["interlock"]["exit_code"] == 1
    assert [f["nodeid"] for f in report["interlock"]["failures"]] == ["tests/test_broken.py"]


def test_pytest_usage_error_still_writes_a_failing_report(project: Project) -> None:
    project.test_file("test_ok.py", "import pytest\n@pytest.mark.integration\ndef test_ok():\n    pass\n")
    outcome = run_suite(project.ctx, ["--no-such-option"])
    assert outcome.status == "fail" and outcome.reason is not None
    assert outcome.reason.startswith("pytest was used wrongly (exit 4)") and "--no-such-option" in outcome.reason
    report = project.report()
    assert validation_errors("test-execution-report", report) == []
    assert report["tests"] == [] and report["interlock"]["failures"][0]["message"] == outcome.reason


def test_node_id_targets_replace_the_suite_path(project: Project) -> None:
    assert suite_command(project.ctx, ["-k", "smoke"])[-1] == "tests"
    command = suite_command(project.ctx, ["tests/test_a.py::test_x"])
    assert command[-1] == "tests/test_a.py::test_x" and "tests" not in command and "--maxfail=1" not in command


def test_changed_report_format_is_an_internal_error(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"exitcode": 0, "root": "/", "summary": {"total": 1, "collected": 1}, "tests": [{"nodeid": "t", "outcome": "passed"}]}))
    with pytest.raises(ReportFormatError, match="keywords"):
        read_report(path)


def test_progress_counts_tests_within_a_line() -> None:
    progress = _Progress()
    progress.feed("=== test session starts ===\ncollected 5 items / 1 deselected / 4 selected\n\ntests/test_a.py .F")
    assert (progress.seen, progress.total, progress.label) == (2, 4, "tests/test_a.py")
    progress.feed("s\ntests/test_b.py E\n\n=== FAILURES ===\n____ test ____\nE   assert 1 == 2\n")
    assert progress.seen == 4


def test_collect_tests_maps_tests_to_interfaces(project: Project) -> None:
    project.test_file("test_map.py", """
        import pytest
        pytestmark = pytest.mark.integration
        @pytest.mark.interface("catalog:GET /products/{id}", "orders:POST /orders")
        def test_a():
            pass
        def test_b():
            pass
    """)
    project.test_file("test_unit.py", "def test_unit():\n    pass\n")
    tests = collect_tests(project.ctx)
    assert [(t["nodeid"], t["interfaces"]) for t in tests] == [
        ("tests/test_map.py::test_a", ["catalog:GET /products/{id}", "orders:POST /orders"]),
        ("tests/test_map.py::test_b", []),
    ]
    assert "integration" in tests[0]["markers"] and "interface" in tests[0]["markers"]


def _defect(defect_id: str, status: str, nodeid: str, source: str = "test") -> dict[str, str]:
    row = {c: "" for c in COLUMNS}
    row.update(id=defect_id, fingerprint=defect_id.lower(), source=source, title=nodeid, severity="critical", status=status,
               rerun=f"interlock test -- '{nodeid}'")
    return row


def test_regression_verdicts_reopen_a_resolved_defect_that_still_fails(project: Project) -> None:
    counter = project.root / "calls.txt"
    project.test_file("test_mod.py", "def test_was_uncollectable():\n    pass\n")
    project.test_file("test_reg.py", f"""
        import pathlib, pytest
        def test_fixed():
            pass
        def test_broken():
            assert False, "still broken"
        def test_flaky():
            calls = pathlib.Path({str(counter)!r})
            calls.write_text(calls.read_text() + "x" if calls.exists() else "x")
            assert len(calls.read_text()) != 2
    """)
    rows = [
        _defect("DEF-1", "resolved", "tests/test_reg.py::test_fixed"),
        _defect("DEF-2", "resolved", "tests/test_reg.py::test_broken"),
        _defect("DEF-3", "mitigated", "tests/test_reg.py::test_flaky"),
        _defect("DEF-4", "open", "tests/test_reg.py::test_broken"),
        _defect("DEF-5", "resolved", "tests/test_mod.py"),
    ]
    project.ctx.artifacts.write_csv("defect-log.csv", COLUMNS, rows)
    outcome = regress(project.ctx)
    assert outcome.status == "fail" and outcome.reason is not None and "DEF-2 (fail)" in outcome.reason
    after = {r["id"]: (r["status"], r["regression"]) for r in read_log(project.ctx.artifacts.path("defect-log.csv"))}
    assert after == {"DEF-1": ("resolved", "pass"), "DEF-2": ("open", "fail"), "DEF-3": ("mitigated", "flaky"), "DEF-4": ("open", ""),
                     "DEF-5": ("resolved", "pass")}
    summary = project.ctx.artifacts.path("regression-summary.md").read_text()
    assert "| DEF-1 | critical | `tests/test_reg.py::test_fixed` | 3/3 | pass (fixed) | resolved | resolved |" in summary
    assert "| DEF-3 | critical | `tests/test_reg.py::test_flaky` | 2/3 | flaky (flaky) | mitigated | mitigated |" in summary
    assert len(counter.read_text()) == 3


def test_regression_with_nothing_to_rerun_says_so(project: Project) -> None:
    project.ctx.artifacts.write_csv("defect-log.csv", COLUMNS, [_defect("DEF-1", "open", "tests/test_a.py::test_a")])
    before = project.ctx.artifacts.path("defect-log.csv").read_text()
    outcome = regress(project.ctx)
    assert (outcome.status, outcome.reason) == ("pass", "nothing to rerun")
    assert NOTHING in project.ctx.artifacts.path("regression-summary.md").read_text()
    assert project.ctx.artifacts.path("defect-log.csv").read_text() == before


def test_regression_writes_its_data_beside_the_markdown(project: Project) -> None:
    """regression-summary.json carries what the Markdown shows, schema-checked, for the steps that read it (never the Markdown)."""
    project.test_file("test_twin.py", "def test_fixed():\n    pass\n")
    rows = [_defect("DEF-1", "resolved", "tests/test_twin.py::test_fixed"), _defect("DEF-2", "mitigated", "interlock env", source="environment")]
    project.ctx.artifacts.write_csv("defect-log.csv", COLUMNS, rows)
    assert regress(project.ctx).status == "pass"
    data = project.ctx.artifacts.read_json("regression-summary.json")
    assert validation_errors("regression-summary", data) == []
    assert [(r["defect"], r["nodeid"], r["passes"], r["verdict"], r["status_before"], r["status_after"]) for r in data["reruns"]] == [
        ("DEF-1", "tests/test_twin.py::test_fixed", 3, "pass", "resolved", "resolved")]
    assert [n["defect"] for n in data["not_rerun"]] == ["DEF-2"] and len(data["pytest_runs"]) == data["runs"] == 3
    assert "| DEF-1 | critical | `tests/test_twin.py::test_fixed` | 3/3 | pass (fixed) | resolved | resolved |" in project.ctx.artifacts.path("regression-summary.md").read_text()


def test_regression_reruns_neighbours_by_module_and_service_and_survives_a_deleted_one(project: Project) -> None:
    near = """
        import pytest
        pytestmark = pytest.mark.integration
        def test_fixed():
            pass
        def test_near():
            {near}
        {gone}
        @pytest.mark.interface("catalog:GET /x")
        def test_service_target():
            pass
    """
    project.test_file("test_n.py", near.format(near="pass", gone="def test_gone():\n            pass"))
    project.test_file("test_other.py", """
        import pytest
        pytestmark = pytest.mark.integration
        @pytest.mark.interface("catalog:POST /y")
        def test_same_service():
            pass
        @pytest.mark.interface("orders:GET /z")
        def test_unrelated():
            pass
    """)
    assert run_suite(project.ctx, []).status == "pass"  # the published report names the neighbours and their services
    project.test_file("test_n.py", near.format(near="pass", gone=""))  # test_gone is deleted after the report
    rows = [_defect("DEF-1", "resolved", "tests/test_n.py::test_fixed"), _defect("DEF-2", "mitigated", "tests/test_n.py::test_service_target")]
    project.ctx.artifacts.write_csv("defect-log.csv", COLUMNS, rows)
    outcome = regress(project.ctx)
    assert (outcome.status, outcome.reason) == ("pass", "2 defect(s) rerun 3 times with 3 neighbour(s)")
    assert {r["id"]: r["regression"] for r in read_log(project.ctx.artifacts.path("defect-log.csv"))} == {"DEF-1": "pass", "DEF-2": "pass"}
    summary = project.ctx.artifacts.path("regression-summary.md").read_text()
    assert "| `tests/test_n.py::test_near` | same module | passed, passed, passed | pass |" in summary
    assert "| `tests/test_n.py::test_gone` | same module | absent, absent, absent | not run |" in summary
    assert "| `tests/test_other.py::test_same_service` | same service catalog | passed, passed, passed | pass |" in summary
    assert "test_unrelated" not in summary
    assert json.loads(project.ctx.artifacts.path("logs/regression-targets.json").read_text())[:2] == [r["rerun"].split("'")[1] for r in rows]

    project.test_file("test_n.py", near.format(near="assert False, 'broke next to the fix'", gone=""))
    project.ctx.artifacts.write_csv("defect-log.csv", COLUMNS, rows)
    outcome = regress(project.ctx)
    assert (outcome.status, outcome.reason) == ("fail", "1 neighbour test(s) failed every rerun: tests/test_n.py::test_near")


def test_report_text_is_json_with_a_line_per_test() -> None:
    test = {"nodeid": "tests/t.py::test_a", "outcome": "failed", "keywords": ["critical"], "call": {"outcome": "failed", "longrepr": "E assert 1 == 2"}}
    report = {"exitcode": 1, "root": "/sut", "summary": {"total": 2, "collected": 2}, "collectors": [{"nodeid": "tests/t.py", "outcome": "passed"}],
              "tests": [test, {**test, "nodeid": "tests/t.py::test_b", "outcome": "passed"}], "interlock": {"failures": []}}
    text = dumps_report(report)
    assert json.loads(text) == report
    assert sum(line.strip().startswith('{"nodeid": "tests/t.py::test_') for line in text.splitlines()) == 2
    assert sum(line.strip().startswith('{"nodeid"') for line in text.splitlines()) == 3  # and the collector
    assert json.loads(dumps_report({**report, "tests": []}))["tests"] == []


@pytest.mark.parametrize("leak", ["token tok-5e1f09 in the output", "fetched https://bot:hunter2@ci.example/x"])
def test_written_report_masks_what_a_test_printed_and_is_dumped_once_when_clean(tmp_path: Path, leak: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import interlock.execution as execution

    monkeypatch.setattr(execution, "validation_errors", lambda *_: [])  # a minimal report: this is about what is written
    test = {"nodeid": "tests/t.py::test_a", "outcome": "failed", "call": {"outcome": "failed", "longrepr": "E assert 1 == 2"}}
    clean = {"exitcode": 1, "root": "/sut", "tests": [test], "interlock": {"failures": []}}
    folder = ArtifactDir(tmp_path, Redactor({"tok-5e1f09": "API_TOKEN"}))
    assert write_report(folder, "r.json", clean).read_text("utf-8") == dumps_report(clean)

    leaky = {**clean, "tests": [{**test, "call": {"outcome": "failed", "longrepr": f"E {leak}"}}]}
    written = write_report(folder, "r.json", leaky).read_text("utf-8")
    assert "tok-5e1f09" not in written and "hunter2" not in written and MASK in written
    assert json.loads(written)["tests"][0]["nodeid"] == "tests/t.py::test_a"
