"""The corpus of bad inputs under tests/corpus: each one is exit 2 and one clear line per problem, never a traceback.

`configs/*.toml` are broken interlock.toml files; `documents/<case>/` each
overlay one broken document (pact, OpenAPI, AsyncAPI, JSON Schema, table spec,
defect log) onto the valid `system/`. `interlock config check` checks both
(the defect log: `interlock defects list`); the scope step uses the same loaders.
`valid/<case>/` overlay documents the specifications allow that interlock once
refused (AsyncAPI 3 channels sharing an address, Avro payloads by remote
reference, an OpenAPI 3.1 Link with `server`): each must pass `config check`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
CONFIGS = sorted((CORPUS / "configs").glob("*.toml"))
DOCUMENTS = sorted(p for p in (CORPUS / "documents").iterdir() if p.is_dir())
VALID = sorted(p for p in (CORPUS / "valid").iterdir() if p.is_dir())


def interlock(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "interlock", *args], cwd=cwd, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def assert_clear_usage_error(result: subprocess.CompletedProcess[str], names: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines, "no message at all"
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    for line in lines:
        assert line.startswith("interlock: error: "), line
        assert names in line, (names, line)


def test_corpus_has_at_least_40_cases() -> None:
    assert len(CONFIGS) + len(DOCUMENTS) >= 40


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_bad_config_is_one_line_per_problem(config: Path, tmp_path: Path) -> None:
    shutil.copy(config, tmp_path / "interlock.toml")
    result = interlock(tmp_path, "config", "check")
    assert_clear_usage_error(result, "interlock.toml")
    for line in result.stderr.strip().splitlines():
        located = line.split("interlock.toml", 1)[1]
        assert located.startswith(":") or "required key is missing" in located, f"no line number: {line}"


@pytest.mark.parametrize("case", DOCUMENTS, ids=[c.name for c in DOCUMENTS])
def test_bad_document_is_one_clear_line(case: Path, tmp_path: Path) -> None:
    system = tmp_path / "system"
    shutil.copytree(CORPUS / "system", system)
    shutil.copytree(case, system, dirs_exist_ok=True)
    broken = next(p for p in case.rglob("*") if p.is_file()).relative_to(case)
    command = ("defects", "list") if broken.name == "defect-log.csv" else ("config", "check")
    result = interlock(system, *command)
    assert_clear_usage_error(result, broken.name)
    for line in result.stderr.strip().splitlines():
        assert line.count(broken.name) == 1, f"names {broken.name} more than once: {line}"


@pytest.mark.parametrize("case", VALID, ids=[c.name for c in VALID])
def test_valid_document_passes_config_check(case: Path, tmp_path: Path) -> None:
    system = tmp_path / "system"
    shutil.copytree(CORPUS / "system", system)
    shutil.copytree(case, system, dirs_exist_ok=True)
    result = interlock(system, "config", "check")
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr


def test_valid_corpus_system_passes(tmp_path: Path) -> None:
    shutil.copytree(CORPUS / "system", tmp_path / "system")
    result = interlock(tmp_path / "system", "config", "check")
    assert result.returncode == 0, result.stderr
