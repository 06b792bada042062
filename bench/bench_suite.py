"""Issue 6: `interlock test` against the protocol's own command on the same 2,000-test suite.

A generated suite of 2,000 passing tests marked `integration` (40 modules of
50) sits in a temporary folder with an interlock.toml whose environment starts
no service. `interlock test` (through the CLI, as users run it: the suite, the
report with interlock's summary, the defect triage) is timed against
`pytest -m integration --json-report --json-report-file X` on the same suite,
median of 5 runs each, alternating so drift hits both alike. Both run in this
venv, with the same pytest plugins installed. `value` and `baseline` are wall
seconds; the CPU seconds (user + system, the process and its children) are
printed too, as `cpu_ratio`: on a shared machine they vary far less than wall
time does.

Then the same suite runs as shards 1/4 .. 4/4 and `interlock merge` combines
them: `shards_merged_equal` says whether the merged report has exactly the
outcomes (node id by node id) and the summary of the one full run.

Issue 16's traced pair: the same suite under `interlock test`, once with the
built-in OTLP receiver (the default: every test sends its span, the plugin's
exporter batches them) and once with `[observability] receiver = false`,
median of 9 interleaved runs each (which side runs first alternates), every run on a fresh artifact folder; the
line has an error unless the last traced run kept 2,000 test spans and its
report holds 2,000 trace ids (and the untraced run none of either).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmark import Benchmark, Measurement

MODULES, PER_MODULE, RUNS, SHARDS = 40, 50, 5, 4
#: The traced pair differs by a few per cent, less than one run's noise on a shared machine: more rounds, so its median holds.
TRACED_RUNS = 9
TOML = """\
[project]
name = "bench-suite"

[prerequisites.feature_list]
path = "features.json"
version = "1"
[prerequisites.architecture_contracts]
path = "contracts.json"
version = "1"
[prerequisites.environment_baseline]
path = "baseline.json"
version = "1"

[services.app]

# no command: nothing is started, the suite needs no service
[environments.integration.services.app]
url = "http://127.0.0.1:9"

[suite]
path = "tests"
marker = "integration"
"""


def generate(root: Path) -> None:
    """The system under test: interlock.toml and MODULES x PER_MODULE passing integration tests."""
    (root / "tests").mkdir(parents=True)
    (root / "interlock.toml").write_text(TOML)
    for m in range(MODULES):
        lines = ["import pytest", "", "pytestmark = pytest.mark.integration", ""]
        for t in range(PER_MODULE):
            lines += [f"def test_{t:03d}():", f"    assert {t} + 1 == {t + 1}", ""]
        (root / "tests" / f"test_module_{m:02d}.py").write_text("\n".join(lines))


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], cwd: Path, cpu: list[float] | None = None) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Wall seconds of one command (and, into `cpu`, the CPU seconds of it and every process it waited for)."""
    before, start = _cpu(), time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=_env(), stdin=subprocess.DEVNULL, timeout=1800)
    wall = time.perf_counter() - start
    if cpu is not None:
        cpu.append(_cpu() - before)
    return wall, done


def outcomes(report: dict[str, Any]) -> dict[str, str]:
    return {t["nodeid"]: t["outcome"] for t in report["tests"]}


def shards_match(root: Path, interlock: list[str]) -> tuple[bool, list[int], str | None]:
    """Run shards 1..SHARDS and merge them; equal when outcomes and summary are those of the last full run."""
    artifacts = root / ".artifacts" / "integration"
    full = json.loads((artifacts / "test-execution-report.json").read_text())
    sizes = []
    for k in range(1, SHARDS + 1):
        _, done = timed([*interlock, "test", "--shard", f"{k}/{SHARDS}", "--yes"], root)
        if done.returncode != 0:
            return False, sizes, f"shard {k}/{SHARDS} exited {done.returncode}: {(done.stderr or done.stdout)[-300:]}"
        shard = json.loads((artifacts / f"test-execution-report.shard-{k}-of-{SHARDS}.json").read_text())
        sizes.append(len(shard["tests"]))
    _, done = timed([*interlock, "merge", str(artifacts)], root)
    if done.returncode != 0:
        return False, sizes, f"merge exited {done.returncode}: {(done.stderr or done.stdout)[-300:]}"
    merged = json.loads((artifacts / "test-execution-report.json").read_text())
    same = outcomes(merged) == outcomes(full) and merged["interlock"]["summary"] == full["interlock"]["summary"] and not merged["interlock"]["filtered"]
    return same, sizes, None


def precompile() -> None:
    """Byte-compile interlock's source as an install does: with PYTHONDONTWRITEBYTECODE set (as on the CI
    machines) an editable install otherwise recompiles ~40 modules on every run, ~0.15 s CPU that pytest,
    installed with its bytecode, never pays."""
    import interlock

    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(interlock.__file__).parent)], check=True, capture_output=True, env=_env())


def measure() -> Measurement:
    interlock = [sys.executable, "-m", "interlock"]
    precompile()
    with tempfile.TemporaryDirectory(prefix="interlock-bench-suite-") as folder:
        root = Path(folder)
        generate(root)
        baseline_report = root / "baseline-report.json"
        protocol = [sys.executable, "-m", "pytest", "-m", "integration", "--json-report", "--json-report-file", str(baseline_report)]
        ours, theirs, ours_cpu, theirs_cpu, error = [], [], [], [], None
        for _ in range(RUNS):
            seconds, done = timed(protocol, root, theirs_cpu)
            theirs.append(seconds)
            if done.returncode != 0:
                error = f"pytest exited {done.returncode}: {done.stdout[-300:]}"
            seconds, done = timed([*interlock, "test", "--yes"], root, ours_cpu)
            ours.append(seconds)
            if done.returncode != 0:
                error = f"interlock test exited {done.returncode}: {(done.stderr or done.stdout)[-300:]}"
        report = json.loads((root / ".artifacts" / "integration" / "test-execution-report.json").read_text())
        passed = report["interlock"]["summary"]["passed"]
        if passed != MODULES * PER_MODULE:
            error = error or f"interlock recorded {passed} passed tests, not {MODULES * PER_MODULE}"
        same, sizes, shard_error = shards_match(root, interlock)
    extra: dict[str, Any] = {
        "tests": MODULES * PER_MODULE, "runs": RUNS,
        "interlock_s": [round(s, 3) for s in ours], "pytest_s": [round(s, 3) for s in theirs],
        "interlock_cpu_s": round(statistics.median(ours_cpu), 3), "pytest_cpu_s": round(statistics.median(theirs_cpu), 3),
        "cpu_ratio": round(statistics.median(ours_cpu) / statistics.median(theirs_cpu), 3),
        "shards_merged_equal": same, "shard_sizes": sizes,
    }
    if error or shard_error:
        extra["error"] = error or shard_error
    return statistics.median(ours), statistics.median(theirs), extra


def measure_traced() -> Measurement:
    interlock = [sys.executable, "-m", "interlock", "test", "--yes"]
    precompile()
    with tempfile.TemporaryDirectory(prefix="interlock-bench-traced-") as folder:
        traced, plain = Path(folder) / "traced", Path(folder) / "plain"
        generate(traced)
        generate(plain)
        (plain / "interlock.toml").write_text(TOML + "\n[observability]\nreceiver = false\n")
        times: dict[Path, list[float]] = {traced: [], plain: []}
        cpu: dict[Path, list[float]] = {traced: [], plain: []}
        error = None
        for round_ in range(TRACED_RUNS):
            for root in ((plain, traced) if round_ % 2 == 0 else (traced, plain)):  # alternating: neither side always runs second
                shutil.rmtree(root / ".artifacts", ignore_errors=True)  # each run as the first: the receiver appends to a folder's span file
                seconds, done = timed(interlock, root, cpu[root])
                times[root].append(seconds)
                if done.returncode != 0:
                    error = f"interlock test exited {done.returncode} in {root.name}: {(done.stderr or done.stdout)[-300:]}"
        error = error or traced_error(traced, MODULES * PER_MODULE) or traced_error(plain, 0)
    extra: dict[str, Any] = {
        "tests": MODULES * PER_MODULE, "runs": TRACED_RUNS, "traced_s": [round(s, 3) for s in times[traced]], "untraced_s": [round(s, 3) for s in times[plain]],
        "traced_cpu_s": round(statistics.median(cpu[traced]), 3), "untraced_cpu_s": round(statistics.median(cpu[plain]), 3),
        "cpu_ratio": round(statistics.median(cpu[traced]) / statistics.median(cpu[plain]), 3), "load_1min": round(os.getloadavg()[0], 2),
    }
    if error:
        extra["error"] = error
    return statistics.median(times[traced]), statistics.median(times[plain]), extra


def traced_error(root: Path, spans: int) -> str | None:
    """Why the last run in `root` is not what its side of the pair claims: every test with a trace id and a kept span, or none."""
    artifacts = root / ".artifacts" / "integration"
    report = json.loads((artifacts / "test-execution-report.json").read_text())
    with_trace = sum(1 for test in report["tests"] if "trace_id" in test)
    span_file = artifacts / "logs" / "otlp-spans.jsonl"
    kept = sum(1 for line in span_file.open() if '"service":"interlock-tests"' in line) if span_file.is_file() else 0  # of this run only
    if (with_trace, kept) != (spans, spans):
        return f"{root.name}: {with_trace} test(s) with a trace id and {kept} test span(s) kept, expected {spans} of each"
    return None


BENCHMARKS = [Benchmark("suite: interlock test vs pytest -m integration --json-report, 2,000 tests", 1.10, measure),
              Benchmark("suite traced: interlock test with every test's span sent to the OTLP receiver vs the receiver off, 2,000 tests",
                        1.05, measure_traced)]
