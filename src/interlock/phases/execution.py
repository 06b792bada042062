"""Step 3.1: run the integration suite (the work lives in `interlock.execution`)."""

from __future__ import annotations

from interlock.execution import run_suite, shard_of
from interlock.protocol import Outcome
from interlock.context import RunContext


def run(ctx: RunContext) -> Outcome:
    """Run the suite (pytest, or any runner that writes JUnit XML); a whole run then records what its traces prove (a shard's traces are the merged run's to read)."""
    if ctx.config.suite.runner == "junit":
        from interlock.junitsuite import run_suite as run_junit

        outcome = run_junit(ctx)
    else:
        outcome = run_suite(ctx)
    if shard_of(list(ctx.spec.pytest_args)):
        return outcome
    from interlock.phases.observability import record_traces  # here: it loads the scope step's matcher, only for a whole run

    return record_traces(ctx, outcome)
