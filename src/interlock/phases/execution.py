"""Step 3.1: run the integration suite (the work lives in `interlock.execution`)."""

from __future__ import annotations

from interlock.execution import run_suite
from interlock.protocol import Outcome
from interlock.context import RunContext


def run(ctx: RunContext) -> Outcome:
    if ctx.config.suite.runner == "junit":  # any runner that writes JUnit XML
        from interlock.junitsuite import run_suite as run_junit

        return run_junit(ctx)
    return run_suite(ctx)
