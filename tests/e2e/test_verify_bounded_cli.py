"""Issue 13's must-show: `interlock verify` on a bundle with six parsed entries near their cap stays bounded.

The bundle comes from bench/bench_verify.py (the benchmark measures the same
command); here the behaviour is asserted: exit 1, a bounded number of lines
ending in the count of the problems left out, and a peak resident set under a
generous 150 MiB (read as RUSAGE_CHILDREN of a small wrapper process, see
`run_verify`).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from interlock.evidence.verify import MAX_PROBLEMS

pytestmark = pytest.mark.e2e

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _bench() -> ModuleType:
    sys.path.insert(0, str(BENCH))  # bench_verify imports its sibling `benchmark`
    try:
        spec = importlib.util.spec_from_file_location("bench_verify", BENCH / "bench_verify.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_verify_on_six_entries_near_their_cap_is_bounded(tmp_path: Path) -> None:
    bench = _bench()
    zip_path, public = bench.hostile_bundle(tmp_path)
    measured = bench.run_verify(zip_path, public)
    assert measured["exit_code"] == 1
    assert measured["stderr_lines"] == 0
    assert measured["stdout_lines"] == MAX_PROBLEMS + 1
    assert measured["peak_rss_mib"] < 150, measured
    done = subprocess.run([sys.executable, "-m", "interlock", "verify", str(zip_path), "--pubkey", str(public)],
                          capture_output=True, text=True)
    lines = done.stdout.splitlines()
    assert all(line.startswith("FAIL: ") for line in lines[:-1])
    assert lines[-1].startswith("... and ") and lines[-1].endswith(" more problems")
    assert int(lines[-1].split()[2]) > 100_000  # every line of each entry is a problem: counted, not printed
    assert max(len(line) for line in lines) < 1200


def test_verify_json_is_bounded_too(tmp_path: Path) -> None:
    zip_path, public = _bench().hostile_bundle(tmp_path)
    done = subprocess.run([sys.executable, "-m", "interlock", "--json", "verify", str(zip_path), "--pubkey", str(public)],
                          capture_output=True, text=True)
    assert done.returncode == 1
    event = json.loads(done.stdout)
    assert event["ok"] is False and event["approval"] is None
    assert len(event["problems"]) == MAX_PROBLEMS + 1 and event["problems"][-1].endswith(" more problems")
    assert event["problem_count"] > 100_000


def test_verify_of_an_intact_bundle_names_who_signed(tmp_path: Path) -> None:
    zip_path, public = _bench().intact_bundle(tmp_path)
    done = subprocess.run([sys.executable, "-m", "interlock", "--json", "verify", str(zip_path), "--pubkey", str(public)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    found = json.loads(done.stdout)["approval"]
    assert found["approver"] == "bench" and found["key_file"] == str(public) and len(found["key_id"]) == 64
    assert found["commit_recorded"] is False and found["dirty"] is None
