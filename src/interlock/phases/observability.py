"""Step 2.3: record, per service, whether its logs, metrics and traces can explain a failure; and, at the end
of step 3.1, what the traces received prove (trace-evidence.json).

Nothing is assumed: logs count when interlock really captured the service's
output, metrics when its `/metrics` endpoint answers with a Prometheus
exposition that parses and holds every metric name the config requires,
traces when interlock's own OTLP receiver got spans from the service (after
waiting three batch delays, so the services' last batches arrive). A gap is
recorded as a gap, for the forward recommendations. A service that has
already died is recorded with how and when (its metrics cannot answer, so it
is not ready).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from interlock.artifacts import (
    CONTRACT_RESULTS, EXECUTION_REPORT, OBSERVABILITY, OBSERVABILITY_DATA, OTLP_RECEIVER, OTLP_SPANS, SCOPE_MATRIX, TRACE_EVIDENCE,
)
from interlock.checks import describe
from interlock.documents import HTTP_REF, match_template
from interlock.errors import UsageError
from interlock.events import Notice
from interlock.otlp.evidence import Declared, Traced, build, service_counts, traces_text
from interlock.otlp import TESTS_SERVICE
from interlock.otlp.spans import SpanFileError, read_counters, read_spans
from interlock.shards import relocate
from interlock.statuses import StepStatus
from interlock.protocol import Outcome
from interlock.context import RunContext, utc_now

_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Readiness:
    service: str
    logs: str
    metrics: str
    traces: str
    spans: int = 0
    traces_required: bool = False
    metrics_missing: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return all(not v.startswith(("missing", "not")) for v in (self.logs, self.metrics, self.traces))


def metrics_status(client: httpx.Client, url: str, required: list[str] | None = None) -> tuple[str, list[str]]:
    """'N metric families at URL', or why there are none; and the required metric names the scrape lacks.

    A required name is found as a family (`http_requests`) or as a sample (`http_requests_total`): the parser
    strips a counter's `_total` from its family name.
    """
    wanted = list(required or [])
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        return f"missing: {url} did not answer ({describe(exc)})", wanted
    if response.status_code != 200:
        return f"missing: {url} answered {response.status_code}", wanted
    try:
        families = list(text_string_to_metric_families(response.text))
    except (ValueError, TypeError) as exc:
        return f"missing: {url} is not a Prometheus exposition ({describe(exc)})", wanted
    if not families:
        return f"missing: {url} exposes no metrics", wanted
    names = {f.name for f in families} | {sample.name for f in families for sample in f.samples}
    missing = [name for name in wanted if name not in names]
    if missing:
        return f"missing: {', '.join(missing)} (not among the {len(families)} metric families at {url})", missing
    return f"{len(families)} metric families at {url}", []


def _unreadable(exc: Exception, root: Path) -> str:
    """Why a file of the folder could not be read, naming it as the folder does (no machine path in the evidence)."""
    text = str(exc) if isinstance(exc, (UsageError, SpanFileError)) else describe(exc)
    return text.replace(f"{root}/", "")


def await_batches(ctx: RunContext) -> None:
    """Give the services' exporters three batch delays to send what they hold. The suite's own spans are flushed
    before pytest exits: when interlock started no service and no service has sent anything, nothing is on its way."""
    receiver = ctx.services.receiver
    senders = receiver.counters.senders() - {TESTS_SERVICE} if receiver is not None else set()
    if ctx.config.observability.receiver and (ctx.services.processes or senders):
        time.sleep(ctx.config.observability.batch_delay_ms * 3 / 1000)


def received(ctx: RunContext) -> tuple[dict[str, Counter[str]] | None, str | None]:
    """Spans by kind per service from the receiver's span file, after three batch delays; (None, why) when unreadable."""
    await_batches(ctx)
    try:
        return {service: kinds for service, (kinds, _) in service_counts(read_spans(ctx.artifacts.path(OTLP_SPANS))).items()}, None
    except (SpanFileError, OSError, UnicodeDecodeError) as exc:
        return None, f"missing: {OTLP_SPANS} is unreadable ({_unreadable(exc, ctx.artifacts.root)})"


def readiness(ctx: RunContext) -> list[Readiness]:
    exited = {gone.service: gone for gone in ctx.services.exits}
    receiver = bool(ctx.config.observability.receiver)
    spans, unreadable = received(ctx) if receiver else ({}, None)
    rows = []
    with httpx.Client(timeout=ctx.env.probe_timeout) as client:
        for name, runtime in ctx.env.services.items():
            declared = ctx.config.services.get(name)
            log = ctx.artifacts.root / "logs" / f"service-{name}.log"
            if runtime.command is None:
                logs = "not captured: the service is not started by interlock"
            elif log.is_file() and log.stat().st_size > 0:
                logs = f"captured: logs/{log.name} ({sum(1 for _ in log.open('rb'))} lines)"
            else:
                logs = f"missing: logs/{log.name} is empty"
            if name in exited:
                logs += f"; {exited[name].title}"
            metrics, missing = metrics_status(client, runtime.url.rstrip("/") + "/metrics", list(declared.metrics) if declared else [])
            kinds = (spans or {}).get(name)
            traces = unreadable or traces_text(name, kinds, receiver)
            rows.append(Readiness(name, logs, metrics, traces, sum(kinds.values()) if kinds else 0,
                                  bool(declared and declared.traces == "required"), missing))
    return rows


def data(rows: list[Readiness], env_name: str, recorded: str) -> dict[str, object]:
    """The readiness as data (observability-readiness.json): what later steps read instead of the Markdown."""
    return {
        "schema_version": 1, "generated_at": recorded, "environment": env_name,
        "services": [{"service": r.service, "logs": r.logs, "metrics": r.metrics, "traces": r.traces, "ready": r.ready, "spans": r.spans,
                      "traces_required": r.traces_required, "metrics_missing": r.metrics_missing} for r in rows],
        "gaps": [r.service for r in rows if not r.ready],
    }


def render(rows: list[Readiness], env_name: str, recorded: str | None = None) -> str:
    lines = [
        "# Observability readiness", "", f"Environment: `{env_name}` · recorded {recorded or utc_now()}", "",
        "Per service: can its logs, metrics and traces explain an integration failure?", "",
        "| Service | Logs | Metrics | Traces | Ready |", "|---|---|---|---|---|",
    ]
    lines += [f"| `{r.service}` | {r.logs} | {r.metrics} | {r.traces}{' (required)' if r.traces_required else ''} | {'yes' if r.ready else 'no'} |"
              for r in rows]
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


def _trace_id(value: Any) -> str | None:
    return value if isinstance(value, str) and _TRACE_ID.match(value) else None


def _feature_interfaces(features: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Interfaces named by the feature list alone: what is known when no scope matrix was written (1.1 not run)."""
    found: dict[str, dict[str, Any]] = {}
    for ref in (str(r) for feature in features for r in feature["interfaces"]):
        service, _, operation = ref.partition(":")
        kind = "http" if HTTP_REF.match(ref) else "message" if operation.startswith("publish ") else "table" if operation.startswith("table ") else None
        if kind and service:
            found.setdefault(ref, {"id": ref, "service": service, "kind": kind, "operation": operation, "checks": []})
    return list(found.values())


def declared_of(ctx: RunContext, matrix: dict[str, Any] | None) -> Declared:
    """What the project declares, from the config and the scope matrix (or the feature list when 1.1 wrote none)."""
    config, env = ctx.config, ctx.env
    if matrix is not None:
        interfaces, features = matrix["interfaces"], matrix["features"]
        dependencies = frozenset((d["consumer"], d["provider"]) for d in matrix["dependencies"])
    else:
        path = ctx.loaded.resolve(config.prerequisites.feature_list.path)
        features = []
        if path.is_file():
            from interlock.phases.scope import read_features  # here: the scope step loads every contract kind

            features = read_features(path)
        interfaces, dependencies = _feature_interfaces(features), frozenset()
    return Declared(
        services={name: list(service.depends_on) for name, service in config.services.items()},
        stores={name: store.kind for name, store in env.stores.items()}, brokers={name: broker.kind for name, broker in env.brokers.items()},
        interfaces=interfaces, dependencies=dependencies, features=features,
        traces_required=frozenset(name for name, service in config.services.items() if service.traces == "required"),
        urls={name: runtime.url for name, runtime in env.services.items()},
    )


def traced_tests(report: dict[str, Any] | None, root: Path) -> list[Traced]:
    """Each test of the execution report with its trace id (the plugin's, per test), declared interfaces and outcome."""
    if report is None:
        return []
    origin = Path(report["root"])
    same = origin.resolve() == root.resolve()  # pytest's rootdir is the system's: node ids need no relocating
    found = []
    for test in report["tests"]:
        metadata = test.get("metadata") if isinstance(test.get("metadata"), dict) else {}
        interfaces = tuple(str(i) for i in metadata.get("interfaces", []))
        found.append(Traced(test["nodeid"] if same else relocate(test["nodeid"], origin, root), _trace_id(test.get("trace_id")) or _trace_id(metadata.get("trace_id")),
                            interfaces, "critical" in test["keywords"] or metadata.get("critical") is True, test["outcome"]))
    return found


def pact_jobs(results: dict[str, Any] | None, matrix: dict[str, Any] | None) -> list[Traced]:
    """Each verifier job (the `job` its pacts' records name; a pact no job ran stands alone) with the trace it sent
    and the interfaces its pacts declare; a job that sent no trace id is listed with none."""
    if results is None:
        return []
    by_ref: dict[str, list[str]] = {}
    for interface in (matrix or {}).get("interfaces", []):
        for check in interface["checks"]:
            if check["kind"] == "pact":
                by_ref.setdefault(check["ref"], []).append(interface["id"])
    jobs: dict[str, tuple[str | None, list[str]]] = {}
    for contract in results["contracts"]:
        if not str(contract["kind"]).startswith("pact"):
            continue
        name = str(contract.get("job") or contract["id"])
        trace, interfaces = jobs.setdefault(name, (None, []))
        trace = trace or _trace_id(contract.get("trace_id")) or next(filter(None, (_trace_id(i.get("trace_id")) for i in contract["interactions"])), None)
        jobs[name] = (trace, [*interfaces, *(i for item in contract["interactions"] for i in by_ref.get(item["id"], []))])
    return [Traced(name, trace, tuple(dict.fromkeys(interfaces))) for name, (trace, interfaces) in jobs.items()]


def trace_evidence(ctx: RunContext) -> dict[str, Any]:
    """trace-evidence.json from every span received so far and the run's declarations.

    Raises UsageError for an artifact it reads that breaks its schema, SpanFileError for a span or counters file
    that is not the receiver's."""
    folder = ctx.artifacts
    matrix = folder.read_json_or_none(SCOPE_MATRIX)
    report = folder.read_json_or_none(EXECUTION_REPORT)
    on = bool(ctx.config.observability.receiver)
    receiver = read_counters(folder.path(OTLP_RECEIVER)) if on else None
    spans = list(read_spans(folder.path(OTLP_SPANS))) if on else []
    return build(spans, declared_of(ctx, matrix), traced_tests(report, ctx.loaded.root), pact_jobs(folder.read_json_or_none(CONTRACT_RESULTS), matrix),
                 match_template, environment=ctx.env_name, generated_at=utc_now(), receiver=receiver)


def record_traces(ctx: RunContext, outcome: Outcome) -> Outcome:
    """The end of step 3.1: wait for the services' last batches, write trace-evidence.json and mark the scope matrix's
    interfaces with its traffic; a step that cannot fails."""
    await_batches(ctx)
    try:
        document = trace_evidence(ctx)
    except (UsageError, SpanFileError, OSError, UnicodeDecodeError) as exc:
        why = _unreadable(exc, ctx.artifacts.root)
        return Outcome(StepStatus.FAIL, "; ".join(filter(None, [outcome.reason, f"no trace evidence: {why}"])))
    ctx.artifacts.write_json(TRACE_EVIDENCE, document)
    matrix = ctx.artifacts.read_json_or_none(SCOPE_MATRIX)
    if matrix is None:
        ctx.emit(Notice("3.1", f"no {SCOPE_MATRIX}: {TRACE_EVIDENCE} knows only the feature list's interfaces; run `interlock scope` first"))
    else:  # the matrix says per interface what the evidence just recorded: 3.1's ledger line produces it anew
        from interlock.phases.scope import mark_traffic  # here: the scope step loads every contract kind

        mark_traffic(matrix, document)
        ctx.artifacts.write_json(SCOPE_MATRIX, matrix)
    unproven = [s["feature"] for s in document["scenarios"] if s["critical"] and not s["proven"]]
    if document["undeclared"] or unproven:
        ctx.emit(Notice("3.1", f"{TRACE_EVIDENCE}: {len(document['undeclared'])} undeclared dependencies; unproven critical scenarios: "
                               f"{', '.join(unproven) if unproven else 'none'}"))
    return outcome
