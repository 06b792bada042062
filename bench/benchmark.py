"""The `Benchmark` record, apart from `run.py` so `bench_*` modules can import it.

`run.py` runs as ``__main__``; were the record defined there, a module's
``from run import Benchmark`` would load run.py a second time as ``run``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Measurement = tuple[float, float, dict[str, Any]]


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: `measure` returns (interlock's cost, the baseline's, extra fields).

    `target` is the most ``cost / baseline`` may be. An ``error`` key in the
    extra fields says the measurement went wrong (say, a probe failed, so the
    time is that of a failure), which makes it miss its target whatever the ratio.
    """

    name: str
    target: float
    measure: Callable[[], Measurement]
