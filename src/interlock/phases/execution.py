"""Step 3.1: run the integration suite (the work lives in `interlock.execution`)."""

from __future__ import annotations

from interlock.execution import run_suite, shard_of
from interlock.phases.observability import record_traces
from interlock.protocol import Outcome
from interlock.context import RunContext


def run(ctx: RunContext) -> Outcome:
    """Run the suite; a whole run then records what its traces prove (a shard's traces are the merged run's to read)."""
    outcome = run_suite(ctx)
    return outcome if shard_of(list(ctx.spec.pytest_args)) else record_traces(ctx, outcome)
