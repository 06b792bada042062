"""The artifact catalogue: one constant per artifact, shard variants from it, and no file name spelled anywhere else."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from interlock import artifacts
from interlock.artifacts import CATALOGUE, DEFECT_LOG, DERIVED_VIEWS, EXECUTION_REPORT, PROTOCOL_ARTIFACTS, TWINS, ArtifactDir
from interlock.shards import SHARD_FILE, Shard

ROOT = Path(__file__).resolve().parents[2]
#: The shared interface fixed for every helper (briefs/owners.md): the constants' names.
CONSTANTS = ("SCOPE_MATRIX", "ENVIRONMENT_REPORT", "TEST_DATA_INVENTORY", "TEST_PLAN", "CONTRACT_CONFIG", "CONTRACT_RESULTS", "OBSERVABILITY",
             "EXECUTION_REPORT", "DEFECT_LOG", "REGRESSION_SUMMARY", "RECOMMENDATIONS", "MANIFEST", "BUNDLE", "SIGNOFF", "GATE_RESULTS",
             "RUN_LEDGER", "HTML_REPORT", "JUNIT_XML")


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("artifact_literals", ROOT / "scripts/artifact_literals.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_artifact_filename_literal_outside_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    script = _script()
    found = script.offenders()
    assert script.main() == (1 if found else 0)
    printed = capsys.readouterr().out
    assert printed.splitlines()[-1] == f"{len(found)} file(s) beyond the catalogue hold an artifact file name as a literal"
    assert len(found) == 0, printed


def test_the_counter_sees_whole_literals_and_shard_patterns_not_mentions(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text('X = "defect-log.csv"\n')
    (tmp_path / "b.py").write_text('G = "test-execution-report.shard-*-of-*.json"\n')
    (tmp_path / "c.py").write_text('"""Reads defect-log.csv."""\nY = f"{1}defect-log.csv"\nZ = "defect-log.csv is missing"\n')
    (tmp_path / "d.py").write_text('H = "junit.xml"\n')
    assert sorted(Path(p).name for p in _script().offenders(tmp_path)) == ["a.py", "b.py", "d.py"]


def test_every_constant_is_one_catalogue_entry() -> None:
    entries = [getattr(artifacts, name) for name in CONSTANTS]
    assert len({a.filename for a in entries}) == len(CONSTANTS)
    assert set(entries) <= set(CATALOGUE) | set(DERIVED_VIEWS)
    assert len(PROTOCOL_ARTIFACTS) == 14 and not set(TWINS.values()) & set(PROTOCOL_ARTIFACTS)
    assert all(twin.schema_name for twin in TWINS.values())


def test_shard_variants_come_from_the_catalogue() -> None:
    assert EXECUTION_REPORT.shard("2/4") == "test-execution-report.shard-2-of-4.json"
    assert DEFECT_LOG.shard(Shard(1, 3)) == "defect-log.shard-1-of-3.csv"
    assert DEFECT_LOG.shard(None) == "defect-log.csv"
    assert SHARD_FILE.match(EXECUTION_REPORT.shard("3/3"))
    assert EXECUTION_REPORT.shard_glob == "test-execution-report.shard-*-of-*.json"


def test_the_folder_takes_a_catalogue_entry_wherever_it_takes_a_name(tmp_path: Path) -> None:
    folder = ArtifactDir(tmp_path)
    folder.write_csv(DEFECT_LOG, ["id"], [{"id": "DEF-1"}])
    assert folder.exists(DEFECT_LOG) and folder.path(DEFECT_LOG) == tmp_path / "defect-log.csv" and str(DEFECT_LOG) == "defect-log.csv"
