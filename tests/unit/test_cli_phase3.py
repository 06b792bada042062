"""Phase 3 through the CLI on throwaway projects: real failing, flaky, hanging, skipped and uncollectable tests.

Each test builds a system under test in tmp_path (interlock.toml + tests, no
services) and runs `python -m interlock ...` in it, as a user would.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.support import Result, config_head

TOML = config_head("throwaway") + """
[services.catalog]
owner = "team-catalog"

[environments.integration.services.catalog]
url = "http://127.0.0.1:9/"

[suite]
timeout = 2
# plugins of this venv the throwaway suites do not use: they only slow every pytest start
args = ["-p", "no:hypothesispytest", "-p", "no:schemathesis", "-p", "no:pact", "-p", "no:anyio"]
"""


class System:
    """A throwaway system under test and its CLI."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "tests").mkdir(parents=True)
        (root / "interlock.toml").write_text(TOML)
        self.artifacts = root / ".artifacts" / "integration"

    def file(self, name: str, source: str) -> None:
        (self.root / "tests" / name).write_text(textwrap.dedent(source))

    def interlock(self, *args: str, timeout: float = 240) -> Result:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        done = subprocess.run([sys.executable, "-m", "interlock", *args], cwd=self.root, capture_output=True, text=True,
                              timeout=timeout, env=env, stdin=subprocess.DEVNULL)
        return Result(done.returncode, done.stdout, done.stderr)

    def report(self, name: str = "test-execution-report.json") -> dict[str, Any]:
        return json.loads((self.artifacts / name).read_text())

    def defects(self, name: str = "defect-log.csv") -> list[dict[str, str]]:
        with (self.artifacts / name).open(newline="") as handle:
            return list(csv.DictReader(handle))

    def gate(self, number: int) -> dict[str, Any]:
        return json.loads((self.artifacts / "gate-results.json").read_text())["gates"][number - 1]


def rerun(nodeid: str) -> str:
    return f"interlock test -- '{nodeid}'"


@pytest.fixture
def system(tmp_path: Path) -> System:
    return System(tmp_path / "sut")


def mixed_suite(system: System, counter: Path) -> None:
    system.file("test_shop.py", f"""
        import pathlib, pytest
        pytestmark = pytest.mark.integration

        def test_ok():
            pass

        @pytest.mark.critical
        def test_bad():
            assert 1 == 2, "wrong total"

        def test_flaky():
            calls = pathlib.Path({str(counter)!r})
            n = int(calls.read_text()) + 1 if calls.exists() else 1
            calls.write_text(str(n))
            assert n % 2 == 0, f"odd run {{n}}"

        def test_skip():
            pytest.skip("not ready")
    """)
    system.file("test_slow.py", """
        import time, pytest

        @pytest.mark.integration
        def test_hangs():
            time.sleep(60)
    """)
    system.file("test_broken.py", "import pytest\n\ndef test_x(:\n    pass\n")


def test_failures_become_one_defect_each_with_rerun_commands_and_regress_tells_fixed_from_flaky(system: System, tmp_path: Path) -> None:
    counter = tmp_path / "flaky-calls"
    mixed_suite(system, counter)
    bad, flaky, hang, broken = ("tests/test_shop.py::test_bad", "tests/test_shop.py::test_flaky", "tests/test_slow.py::test_hangs", "tests/test_broken.py")

    first = system.interlock("test")  # no terminal, no --yes: the protocol's halt
    assert first.code == 3, first.output
    lines = first.stdout.splitlines()
    assert "[ERROR] Integration suite reported critical failures." in lines
    assert "[DEFECT REVIEW] Critical integration failures detected. Confirm remediation plan recorded before rerun? (yes/no)" in lines
    for nodeid in (bad, flaky, hang, broken):  # every failure on the console carries the command that reruns just it
        assert any(line.endswith(f"rerun: {rerun(nodeid)}") for line in lines), (nodeid, first.stdout)
    report = system.report()
    section = report["interlock"]
    assert section["summary"] | {"collected": 0} == {"collected": 0, "total": 5, "passed": 1, "failed": 3, "skipped": 1, "errors": 0, "deselected": 0}
    assert section["filtered"] is False and not any(a.startswith("--maxfail") for a in section["command"])
    messages = {f["nodeid"]: f["message"] for f in section["failures"]}
    assert set(messages) == {bad, flaky, hang, broken}
    assert messages[hang].startswith("Failed: Timeout") and messages[bad].startswith("AssertionError: wrong total")
    assert messages[broken].startswith("SyntaxError")
    rows = {r["title"].split()[1]: r for r in system.defects()}
    assert set(rows) == {bad, flaky, hang, broken}
    assert all(r["rerun"] == rerun(nodeid) for nodeid, r in rows.items())  # and in the defect log
    assert (rows[bad]["severity"], rows[flaky]["severity"], rows[broken]["severity"]) == ("critical", "high", "critical")

    second = system.interlock("test", "--yes")  # the same failures again; the flaky test passes on even runs
    assert second.code == 1, second.output
    again = {r["title"].split()[1]: r for r in system.defects()}
    assert len(again) == 4 and {n: r["id"] for n, r in again.items()} == {n: r["id"] for n, r in rows.items()}  # one defect each, not two
    assert (again[bad]["occurrences"], again[flaky]["occurrences"]) == ("2", "1")
    listed = system.interlock("defects", "list")
    assert len(listed.stdout.splitlines()) == 5 and sum(bad in line for line in listed.stdout.splitlines()) == 1
    assert listed.stdout.splitlines()[-1] == "4 of 4 defect(s) in defect-log.csv"

    assert system.interlock("defects", "resolve", again[bad]["id"], "--note", "fixed the total").code == 0  # but it is not
    for nodeid in (flaky, hang, broken):
        assert system.interlock("defects", "mitigate", again[nodeid]["id"], "--plan", "being fixed").code == 0
    regress = system.interlock("regress")
    assert regress.code == 1, regress.output
    after = {r["title"].split()[1]: r for r in system.defects()}
    assert (after[bad]["status"], after[bad]["regression"]) == ("open", "fail")  # resolved, still failing: reopened
    assert (after[flaky]["status"], after[flaky]["regression"]) == ("mitigated", "flaky")  # runs 3, 4, 5: fail, pass, fail
    assert [after[n]["regression"] for n in (hang, broken)] == ["fail", "fail"]  # killed by the timeout / still uncollectable
    assert counter.read_text() == "5"
    summary = (system.artifacts / "regression-summary.md").read_text()
    assert f"| {after[flaky]['id']} | high | `{flaky}` | 1/3 | flaky (flaky) | mitigated | mitigated |" in summary
    assert "| `tests/test_shop.py::test_ok` | same module | passed, passed, passed | pass |" in summary  # a neighbour of the fix
    assert "test_skip` | same module | skipped, skipped, skipped | not run |" in summary
    assert f"{after[bad]['id']} (fail)" in regress.stdout

    before = system.report()
    lf = system.interlock("test", "--last-failed", "--yes")  # bad, hang and broken failed last time; flaky passed
    assert lf.code == 1, lf.output
    section = system.report()["interlock"]
    assert section["filtered"] is True and section["filter"].startswith("--last-failed: 3 target(s)")
    assert section["command"][-3:] == [bad, hang, broken] and section["summary"]["total"] == 2
    assert counter.read_text() == "5" and section != before["interlock"]
    gates = system.interlock("gates")
    assert gates.code == 1
    filtered = next(c for c in system.gate(3)["conditions"] if c["id"] == "tests.filtered")
    assert filtered["status"] == "fail" and filtered["reason"].startswith("filtered run: not complete evidence")


def test_last_failed_with_nothing_to_rerun_and_maxfail(system: System) -> None:
    system.file("test_a.py", """
        import pytest
        pytestmark = pytest.mark.integration
        def test_one():
            pass
        def test_two():
            pass
    """)
    missing = system.interlock("test", "--last-failed")
    assert missing.code == 2 and missing.stderr.count("\n") == 1 and "no previous run" in missing.stderr
    assert system.interlock("test").code == 0
    published = (system.artifacts / "test-execution-report.json").read_bytes()
    nothing = system.interlock("test", "--last-failed")
    assert nothing.code == 0, nothing.output
    assert "has no failures; nothing to rerun" in nothing.stdout
    assert (system.artifacts / "test-execution-report.json").read_bytes() == published  # not overwritten
    assert system.interlock("gates").code == 1  # gate 1, 2 and 4 lack their artifacts here
    assert next(c for c in system.gate(3)["conditions"] if c["id"] == "tests.filtered")["status"] == "pass"

    system.file("test_b.py", """
        import pytest
        pytestmark = pytest.mark.integration
        def test_f1():
            assert False
        def test_f2():
            assert False
        def test_f3():
            assert False
    """)
    stopped = system.interlock("test", "--maxfail", "1")
    assert stopped.code == 1, stopped.output
    section = system.report()["interlock"]
    assert "--maxfail=1" in section["command"] and len(section["failures"]) == 1
    assert section["filtered"] is True and section["filter"].startswith("stopped early: 2 selected test(s) did not run")
    empty = system.interlock("test", "--shard", "9/9", "--yes")  # 5 tests, 9 shards: this one gets none
    assert empty.code == 1 and "shard 9/9 got none of the suite's 5 test(s); split it into fewer shards" in empty.stdout, empty.output
    bad = system.interlock("test", "--shard", "5/4")
    assert bad.code == 2 and bad.stderr.count("\n") == 1 and "K must be between 1 and N" in bad.stderr


def generated_suite(system: System, modules: int = 8, tests: int = 6) -> None:
    for m in range(modules):
        body = ["import pytest", "pytestmark = pytest.mark.integration", ""]
        body += [f"def test_{t}():\n    pass\n" for t in range(tests)]
        if m == 2:
            body.append("def test_fails():\n    assert 2 + 2 == 5\n")
        if m == 5:
            body.append("@pytest.mark.skip(reason='later')\ndef test_skipped():\n    pass\n")
            body.append("@pytest.mark.xfail(reason='known')\ndef test_xfail():\n    assert False\n")
        system.file(f"test_gen_{m}.py", "\n".join(body))
    system.file("test_unit.py", "def test_not_integration():\n    pass\n")
    system.file("test_uncollectable.py", "import no_such_module_here\n")


def outcomes(report: dict[str, Any]) -> dict[str, str]:
    return {t["nodeid"]: t["outcome"] for t in report["tests"]}


def test_shards_merged_give_the_outcomes_of_one_run_and_bad_merges_are_refused(system: System, tmp_path: Path) -> None:
    generated_suite(system)
    whole = system.interlock("test", "--yes")
    assert whole.code == 1, whole.output
    one_run = system.report()
    published = (system.artifacts / "test-execution-report.json").read_bytes()
    defect_ids = sorted(r["id"] for r in system.defects())
    assert len(defect_ids) == 2 and len(one_run["tests"]) == 51 and one_run["interlock"]["summary"]["deselected"] == 1
    for k in range(1, 5):
        result = system.interlock("test", "--shard", f"{k}/4", "--yes")
        assert result.code in (0, 1), result.output
        assert f"test-execution-report.shard-{k}-of-4.json" in result.stdout
        assert (system.artifacts / "test-execution-report.json").read_bytes() == published  # the full-suite evidence is untouched
        shard = system.report(f"test-execution-report.shard-{k}-of-4.json")["interlock"]
        assert shard["shard"] == f"{k}/4" and shard["balance"] == "durations" and shard["suite"]["tests"] == 51
        assert sorted(shard["selection"]) == sorted(t["nodeid"] for t in system.report(f"test-execution-report.shard-{k}-of-4.json")["tests"])
        assert (system.artifacts / f"defect-log.shard-{k}-of-4.csv").is_file()
    merged = system.interlock("merge", str(system.artifacts))
    assert merged.code == 1, merged.output  # the suite has a failing test: a merge is judged like one run
    assert "merged 4 shards (1/4, 2/4, 3/4, 4/4): 51 tests" in merged.stdout
    report = system.report()
    assert outcomes(report) == outcomes(one_run)
    section, full = report["interlock"], one_run["interlock"]
    assert section["summary"] == full["summary"] and section["filtered"] is False
    assert sorted((f["nodeid"], f["message"]) for f in section["failures"]) == sorted((f["nodeid"], f["message"]) for f in full["failures"])
    assert {f["nodeid"] for f in section["failures"]} == {"tests/test_gen_2.py::test_fails", "tests/test_uncollectable.py"}
    assert sorted(r["id"] for r in system.defects()) == defect_ids
    assert all(r["occurrences"] == "2" for r in system.defects())  # the full run, then the merge: one defect each
    assert "##### shard 3/4" in (system.artifacts / "logs" / "pytest.log").read_text()
    system.interlock("gates")
    assert next(c for c in system.gate(3)["conditions"] if c["id"] == "tests.filtered")["status"] == "pass"

    partial = tmp_path / "partial"
    partial.mkdir()
    for k in (1, 2, 4):
        shutil.copy(system.artifacts / f"test-execution-report.shard-{k}-of-4.json", partial)
    refused = system.interlock("merge", str(partial))
    assert refused.code == 2 and refused.stderr.count("\n") == 1, refused.output
    assert "refused: shard 3/4 missing (have 1/4, 2/4, 4/4)" in refused.stderr
    system.file("test_gen_9.py", "import pytest\n@pytest.mark.integration\ndef test_new():\n    pass\n")
    assert system.interlock("test", "--shard", "3/4", "--yes").code in (0, 1)  # the suite changed before shard 3 ran
    changed = system.interlock("merge", str(system.artifacts))
    assert changed.code == 2 and "refused: shards come from different suites" in changed.stderr, changed.output
    assert outcomes(system.report()) == outcomes(one_run)  # a refused merge writes nothing


def test_a_shard_under_xdist_selects_what_it_would_alone(system: System) -> None:
    for m in range(3):
        system.file(f"test_x{m}.py", "import pytest\npytestmark = pytest.mark.integration\n" + "".join(f"def test_{t}():\n    pass\n" for t in range(4)))
    system.file("test_broken.py", "import no_such_module_here\n")  # every shard reports it; the merge, once
    assert system.interlock("test", "--yes", "--shard", "1/2", "--", "-n", "2").code == 1
    with_workers = system.report("test-execution-report.shard-1-of-2.json")
    assert sorted(with_workers["interlock"]["selection"]) == sorted(t["nodeid"] for t in with_workers["tests"])
    assert "-n" in with_workers["interlock"]["command"] and with_workers["interlock"]["filtered"] is False
    assert system.interlock("test", "--yes", "--shard", "1/2").code == 1
    alone = system.report("test-execution-report.shard-1-of-2.json")["interlock"]
    assert (alone["selection"], alone["partition"]) == (with_workers["interlock"]["selection"], with_workers["interlock"]["partition"])
    assert system.interlock("test", "--yes", "--shard", "2/2", "--", "-n", "2").code == 1
    merged = system.interlock("merge", str(system.artifacts))
    assert merged.code == 1, merged.output  # every test passed, but a module could not be collected: not a green run
    section = system.report()["interlock"]
    assert (section["summary"]["total"], section["summary"]["passed"], section["filtered"]) == (12, 12, False)
    assert [f["nodeid"] for f in section["failures"]] == ["tests/test_broken.py"]
    assert [r["title"] for r in system.defects()] == ["test tests/test_broken.py error"]
