"""Run the benchmarks of `bench/bench_*.py` and print one JSON line each.

``BENCH=substring`` runs only those whose name contains it. The exit status is
0 even when a ratio misses its target: benchmarks measure, tests assert; the
line's ``met`` says whether it held.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

from benchmark import Benchmark


def discover(directory: Path) -> list[Benchmark]:
    """Every `BENCHMARKS` entry of the ``bench_*.py`` modules next to this file, in file order."""
    found: list[Benchmark] = []
    for path in sorted(directory.glob("bench_*.py")):
        found.extend(importlib.import_module(path.stem).BENCHMARKS)
    return found


def run(benchmark: Benchmark) -> dict[str, object]:
    """Measure once and build the line: the fixed fields first, then the benchmark's own."""
    value, baseline, extra = benchmark.measure()
    ratio = value / baseline
    met = ratio <= benchmark.target and "error" not in extra
    return {
        "name": benchmark.name,
        "value": round(value, 6),
        "baseline": round(baseline, 6),
        "ratio": round(ratio, 3),
        "target": benchmark.target,
        **extra,
        "met": met,
    }


def main() -> int:
    """Run the selected benchmarks; fail only when the selection is empty, a likely typo."""
    pick = os.environ.get("BENCH", "")
    selected = [b for b in discover(Path(__file__).parent) if pick in b.name]
    if not selected:
        print(f"no benchmark name contains {pick!r}", file=sys.stderr)
        return 2
    for benchmark in selected:
        print(json.dumps(run(benchmark)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
