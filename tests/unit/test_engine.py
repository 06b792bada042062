"""The engine and the CLI boundary: unbuilt steps fail their gate, bad input is one line and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from interlock import engine, runspec
from interlock.config import load
from interlock.engine import Engine, steps

from .test_config import MINIMAL


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "interlock", *args], cwd=cwd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.fixture
def system(tmp_path: Path) -> Path:
    (tmp_path / "interlock.toml").write_text(MINIMAL)
    return tmp_path


def test_unbuilt_steps_fail_their_gates(system: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "STEPS", tuple((i, p, t, "interlock.phases.does_not_exist:run", False) for i, p, t, _, _ in engine.STEPS))
    events: list = []
    code = Engine(runspec.build(load(system / "interlock.toml"), "integration"), system / "art", events.append, lambda kind: (True, "test"), steps=steps()).run()
    finished = [e for e in events if type(e).__name__ == "StepFinished"]
    assert code == 3  # Gate 1 fails, and the protocol halts there
    assert {e.status for e in finished} == {"not_implemented"}
    gates = json.loads((system / "art" / "gate-results.json").read_text())
    assert [g["status"] for g in gates["gates"]] == ["fail"] * 4
    assert not any(getattr(e, "line", None) and "PROTOCOL COMPLETE" in e.line for e in events)


def test_resume_without_a_halted_run_is_usage_error(system: Path) -> None:
    result = cli("run", "--resume", cwd=system)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "no halted run" in result.stderr and "Traceback" not in result.stderr


def test_config_check_reports_every_problem_with_line(system: Path) -> None:
    text = MINIMAL.replace('openapi = "api.yaml"', 'opnapi = "api.yaml"').replace('url = "http://127.0.0.1:1"', "url = 1")
    (system / "interlock.toml").write_text(text)
    result = cli("config", "check", cwd=system)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and all("interlock.toml:" in line for line in lines)
    assert "Traceback" not in result.stderr


def test_missing_config_is_usage_error(tmp_path: Path) -> None:
    result = cli("scope", cwd=tmp_path)
    assert result.returncode == 2 and "no interlock.toml" in result.stderr


def test_report_without_a_run_is_one_line_exit_2(system: Path) -> None:
    result = cli("report", cwd=system)
    assert result.returncode == 2 and "no run id" in result.stderr and result.stderr.count("\n") == 1


def test_schema_lists_and_prints(system: Path) -> None:
    listed = cli("schema", cwd=system)
    assert "gate-results" in listed.stdout.split()
    assert json.loads(cli("schema", "gate-results", cwd=system).stdout)["title"] == "Gate results"
    unknown = cli("schema", "nope", cwd=system)
    assert unknown.returncode == 2 and "no schema named" in unknown.stderr


def test_init_writes_config_and_shims(tmp_path: Path) -> None:
    result = cli("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for script in ("validate_environment.py", "run_contract_tests.py", "generate_artifact_manifest.py"):
        assert (tmp_path / "scripts" / script).is_file()
    assert cli("init", cwd=tmp_path).returncode == 2


def test_global_options_after_the_command() -> None:
    from interlock.cli import hoist_global_options

    assert hoist_global_options(["run", "--json", "--config", "x.toml", "--yes"]) == ["--json", "--config", "x.toml", "run", "--yes"]
    assert hoist_global_options(["test", "--", "--json"]) == ["test", "--", "--json"]


def test_second_writer_is_refused_and_killed_run_leaves_previous_artifacts(system: Path) -> None:
    from filelock import FileLock

    from interlock.errors import UsageError

    (system / "interlock.toml").write_text(MINIMAL.replace('openapi = "api.yaml"', ""))
    artifacts = system / ".artifacts" / "integration"
    artifacts.mkdir(parents=True)
    (artifacts / "integration-scope-matrix.json").write_text("{}")
    stale = system / ".artifacts" / ".integration.run-dead"
    stale.mkdir()
    engine_ = Engine(runspec.build(load(system / "interlock.toml"), "integration"), artifacts, lambda e: None, lambda kind: (True, "test"), steps=steps())
    with FileLock(str(system / ".artifacts" / ".integration.lock")):
        with pytest.raises(UsageError, match="another interlock run"):
            engine_.run()
    assert (artifacts / "integration-scope-matrix.json").read_text() == "{}"
    assert engine_.run() == 3  # halts: the prerequisites do not exist
    assert not stale.exists()
    assert json.loads((artifacts / "integration-scope-matrix.json").read_text())["prerequisites"][0]["status"] == "missing"


def test_version_needs_no_command(tmp_path: Path) -> None:
    from interlock import __version__

    done = subprocess.run([sys.executable, "-m", "interlock", "--version"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"interlock {__version__}\n", "")
