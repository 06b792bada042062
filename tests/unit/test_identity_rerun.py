"""issue 15: run green, break a shared file outside the config's folder, fix it, run green again: no flaky defect.

A tiny generated system in a git repository: `sut/` holds interlock.toml and
the suite, `lib/` (outside the config's folder) the code it tests. Each round
is `interlock test --yes` (3.1 and triage, which asks the history for flaky
checks), then the run is recorded in the history store as `interlock report`'s
HistoryRecorder records it (in this process: a subprocess costs seconds).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from interlock.identity import CI_COMMIT_VARIABLES, commit_key
from interlock.runfolder import RunFolder
from interlock.store import ENV_VAR, open_store

from .test_cli_phase3 import System

NODE = "tests/test_total.py::test_total"


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com", *args], check=True, capture_output=True)


def test_break_fix_rerun_outside_the_config_folder_is_three_identities_and_no_flaky_defect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (*CI_COMMIT_VARIABLES, ENV_VAR):
        monkeypatch.delenv(var, raising=False)
    system = System(tmp_path / "sut")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "calc.py").write_text("def total():\n    return 3\n")
    system.file("test_total.py", f"""
        import sys
        sys.path.insert(0, {str(tmp_path / "lib")!r})
        import pytest
        from calc import total

        @pytest.mark.integration
        def test_total():
            assert total() == 3
    """)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "green")

    def round_(expect: int) -> None:
        done = system.interlock("test", "--yes")
        assert done.code == expect, done.output
        with open_store(None, system.root) as store:
            store.record_run(RunFolder.load(system.artifacts), git_commit=commit_key(system.root, system.artifacts))

    round_(0)
    (tmp_path / "lib" / "calc.py").write_text("def total():\n    return 4\n")  # break a tracked file outside sut/
    round_(1)
    (tmp_path / "lib" / "calc.py").write_text("def total():\n    return 3\n")  # fix it
    round_(0)

    with open_store(None, system.root) as store:
        runs = list(reversed(store.runs()))
        assert [(r.tests_passed, r.tests_failed) for r in runs] == [(1, 0), (0, 1), (1, 0)]
        first, broken, fixed = (r.git_commit for r in runs)
        assert first and first == fixed and broken != first and broken.startswith(first + "+")  # the break is its own identity
        assert store.flaky() == []
    assert [r for r in system.defects() if r["source"] == "flaky"] == []
    assert [r["status"] for r in system.defects() if r["title"] == f"test {NODE} failed"] == ["open"]  # the real failure stays recorded
