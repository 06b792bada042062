"""Step 2.3: record, per service, whether its logs, metrics and traces can explain a failure.

Nothing is assumed: logs count when interlock really captured the service's
output, metrics when its `/metrics` endpoint answers with a Prometheus
exposition that parses, traces only when a trace endpoint is configured and
answers. A gap is recorded as a gap, for the forward recommendations. A
service that has already died is recorded with how and when (its metrics
cannot answer, so it is not ready).
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

from interlock.artifacts import OBSERVABILITY, OBSERVABILITY_DATA
from interlock.checks import describe
from interlock.statuses import StepStatus
from interlock.protocol import Outcome
from interlock.context import RunContext, utc_now


@dataclass(frozen=True)
class Readiness:
    service: str
    logs: str
    metrics: str
    traces: str

    @property
    def ready(self) -> bool:
        return all(not v.startswith(("missing", "not")) for v in (self.logs, self.metrics, self.traces))


def metrics_status(client: httpx.Client, url: str) -> str:
    """'N metric families at URL', or why there are none."""
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        return f"missing: {url} did not answer ({describe(exc)})"
    if response.status_code != 200:
        return f"missing: {url} answered {response.status_code}"
    try:
        families = list(text_string_to_metric_families(response.text))
    except (ValueError, TypeError) as exc:
        return f"missing: {url} is not a Prometheus exposition ({describe(exc)})"
    if not families:
        return f"missing: {url} exposes no metrics"
    return f"{len(families)} metric families at {url}"


def readiness(ctx: RunContext) -> list[Readiness]:
    exited = {gone.service: gone for gone in ctx.services.exits}
    rows = []
    with httpx.Client(timeout=ctx.env.probe_timeout) as client:
        for name, runtime in ctx.env.services.items():
            log = ctx.artifacts.root / "logs" / f"service-{name}.log"
            if runtime.command is None:
                logs = "not captured: the service is not started by interlock"
            elif log.is_file() and log.stat().st_size > 0:
                logs = f"captured: logs/{log.name} ({sum(1 for _ in log.open('rb'))} lines)"
            else:
                logs = f"missing: logs/{log.name} is empty"
            if name in exited:
                logs += f"; {exited[name].title}"
            metrics = metrics_status(client, runtime.url.rstrip("/") + "/metrics")
            rows.append(Readiness(name, logs, metrics, "not instrumented: no trace endpoint configured"))
    return rows


def data(rows: list[Readiness], env_name: str, recorded: str) -> dict[str, object]:
    """The readiness as data (observability-readiness.json): what later steps read instead of the Markdown."""
    return {
        "schema_version": 1, "generated_at": recorded, "environment": env_name,
        "services": [{"service": r.service, "logs": r.logs, "metrics": r.metrics, "traces": r.traces, "ready": r.ready} for r in rows],
        "gaps": [r.service for r in rows if not r.ready],
    }


def render(rows: list[Readiness], env_name: str, recorded: str | None = None) -> str:
    lines = [
        "# Observability readiness", "", f"Environment: `{env_name}` · recorded {recorded or utc_now()}", "",
        "Per service: can its logs, metrics and traces explain an integration failure?", "",
        "| Service | Logs | Metrics | Traces | Ready |", "|---|---|---|---|---|",
    ]
    lines += [f"| `{r.service}` | {r.logs} | {r.metrics} | {r.traces} | {'yes' if r.ready else 'no'} |" for r in rows]
    gaps = [r.service for r in rows if not r.ready]
    lines += ["", f"Services with gaps: {', '.join(gaps) if gaps else 'none'}.", ""]
    return "\n".join(lines)


def run(ctx: RunContext) -> Outcome:
    """Write observability-readiness.md and its data twin; the step fails only if a service could not be recorded."""
    rows = readiness(ctx)
    recorded = utc_now()
    ctx.artifacts.write_json(OBSERVABILITY_DATA, data(rows, ctx.env_name, recorded))
    ctx.artifacts.write_text(OBSERVABILITY, render(rows, ctx.env_name, recorded))
    gaps = [r.service for r in rows if not r.ready]
    return Outcome(StepStatus.PASS, f"{len(rows)} services recorded; gaps: {', '.join(gaps) if gaps else 'none'}")
