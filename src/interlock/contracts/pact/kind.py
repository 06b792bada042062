"""The pact contract kind: prepare a run once (sources, selection, jobs), what the config artifact records, and the verification."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from interlock.paths import shown as shown_path
from interlock.config import Config
from interlock.contracts.pact.execute import Workers, no_tls_roots, run_job, schedule
from interlock.contracts.pact.jobs import WORKERS_PER_CORE, broker_job, build_jobs, default_concurrency
from interlock.artifacts import STATES_LOG
from interlock.contracts.pact.records import broker_records, contract_records, states_log
from interlock.contracts.pact.sources import Plan, resolve_sources, select_pacts
from interlock.documents import source_url
from interlock.errors import UsageError
from interlock.events import Progress
from interlock.files import sha256_file
from interlock.probes import redact_url
from interlock.context import RunContext


def prepare(ctx: RunContext, only: Sequence[str] = ()) -> Plan:
    """Resolve and fetch the sources once, select what `only` names, and build the jobs of this run."""
    pact = ctx.config.contracts.pact
    assert pact is not None
    broker_providers = list(pact.broker.providers) if pact.broker else []
    unknown = [p for p in broker_providers if p not in ctx.config.services]
    if unknown:
        raise UsageError(f"[contracts.pact.broker] providers names {', '.join(map(repr, unknown))}, not a service of [services]; fix the name")
    found, origins, fetched, broken = resolve_sources(ctx)
    selection = None
    unmatched: list[str] = []
    if only:
        found, selection, unmatched = select_pacts(found, only, broker_providers)
        broken = [r for r in broken if r["id"] in only or r["source"] in only]
    jobs = build_jobs(ctx, found, selection, only)
    return Plan(found, origins, fetched, broken, jobs, selection, tuple(only), unmatched,
                default_concurrency(len(jobs), pact.concurrency), pact.per_provider)


def settings(ctx: RunContext, plan: Plan | None = None) -> dict[str, Any] | None:
    """What contract-validation-config.json records of the pact verifier."""
    pact = ctx.config.contracts.pact
    if pact is None:
        return None
    plan = plan or prepare(ctx)
    root = ctx.loaded.root

    def shown(path: Path) -> str:
        return plan.origins.get(path) or shown_path(path, root)

    def artifact_path(path: Path) -> str:
        return path.relative_to(ctx.artifacts.root).as_posix() if path.is_relative_to(ctx.artifacts.root) else str(path)

    broker = pact.broker
    return {
        "verifier": "pact.verifier.Verifier (Rust reference verifier, offline)",
        "sources": [redact_url(getattr(s, "url", s)) if source_url(s) else shown_path(ctx.loaded.resolve(str(s)), root) for s in pact.sources],
        "pact_files": [{"path": shown(p.path), "sha256": sha256_file(p.path), "consumer": p.consumer, "provider": p.provider, "kind": p.kind,
                        "specification": p.specification, "interactions": len(p.interactions)} for p in plan.pacts],
        "fetched": [{"url": f.url, "saved_as": artifact_path(f.path) if f.path else None, "sha256": f.sha256, "error": f.error} for f in plan.fetched],
        "broker": {**broker_job(broker), "url": redact_url(broker.url), "providers": list(broker.providers),
                   "source": "pact.verifier.Verifier.broker_source(selector=True)"} if broker else None,
        "request_timeout_ms": pact.request_timeout_ms, "provider_states": sorted(pact.states),
        "provider_state_handlers": {p: sorted(s.states) for p, s in sorted(pact.providers.items())},
        "provider_headers": {p: sorted(s.headers) for p, s in sorted(pact.providers.items()) if s.headers},  # names only: values may be secrets
        "state_urls": {p: redact_url(s.state_url) for p, s in sorted(ctx.config.services.items()) if s.state_url},
        "messages": {n: {"broker": m.broker, "topic": m.topic, "timeout": m.timeout} for n, m in pact.messages.items()},
        "providers": {j["id"]: redact_url(j["url"]) if j["url"] else "message relay" for j in plan.jobs},
        "tls_roots": {j["id"]: "one throwaway certificate (the job makes no TLS connection)" if j["tls_free"] else "system" for j in plan.jobs},
        "jobs": len(plan.jobs), "concurrency": plan.concurrency, "per_provider": plan.per_provider,
        "concurrency_default": f"{WORKERS_PER_CORE} per core ({os.cpu_count() or 1} cores), at most one per job" if pact.concurrency is None else "configured",
        "filter": list(plan.only) or None,
    }


def verify(ctx: RunContext, plan: Plan | None = None) -> list[dict[str, Any]]:
    """Verify every job, concurrently within the bounds; one record per pact file (per consumer for broker pacts)."""
    plan = plan or prepare(ctx)
    pact = ctx.config.contracts.pact
    total = len(plan.jobs)
    finished = 0
    ctx.emit(Progress("2.2", 0, total, "pact jobs verified"))

    def done(job: dict[str, Any], outcome: dict[str, Any]) -> None:
        nonlocal finished
        finished += 1
        ctx.emit(Progress("2.2", finished, total, "pact jobs verified"))

    logs = ctx.artifacts.root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "pact-workers.log").unlink(missing_ok=True)  # the workers append; an earlier attempt of this step (killed, resumed) is not this one's evidence
    env = {**ctx.base_env(), "PACT_DO_NOT_TRACK": "true"}
    with tempfile.TemporaryDirectory(prefix="interlock-pact-tls-") as tmp, Workers(env, logs / "pact-workers.log") as workers:
        quiet_tls = no_tls_roots(Path(tmp)) if any(j["tls_free"] for j in plan.jobs) else {}
        outcomes = schedule(plan.jobs, lambda job: run_job(ctx, job, quiet_tls if job["tls_free"] else None, workers),
                            plan.concurrency, plan.per_provider, done) if plan.jobs else {}
    ctx.redactor.redact_files([logs / "pact-workers.log", *(logs / f"pact-{job['id']}.log" for job in plan.jobs)])  # the verifier prints what providers answered
    text = states_log(plan.jobs, outcomes)
    if text or any(job.get("needs_states") for job in plan.jobs):
        ctx.artifacts.write_text(STATES_LOG, text or "no provider-state action ran\n")  # redacted: params and outputs may hold secrets
    by_path = {Path(source): outcomes[job["id"]] for job in plan.jobs for source in job["sources"]}
    records = plan.broken + contract_records(plan.pacts, by_path, ctx.loaded.root, plan.origins, plan.selection, ctx.config.service_of)
    for job in plan.jobs:
        if job["kind"] == "broker":
            records += broker_records(job["provider"], outcomes[job["id"]], pact.broker.url, ctx.config.service_of)
    return records


class PactKind:
    """Pact as a contract kind (`interlock.contracts.kinds`): it knows its interaction ids before running, so `--only` narrows the verifier."""

    name = "pact"
    prefixes = ("pact:",)

    def declared(self, config: Config) -> bool:
        return config.contracts.pact is not None

    def prepare(self, ctx: RunContext, only: Sequence[str]) -> Plan:
        return prepare(ctx, only)

    def settings(self, ctx: RunContext, prepared: Plan) -> dict[str, Any] | None:
        return settings(ctx, prepared)

    def verify(self, ctx: RunContext, prepared: Plan) -> list[dict[str, Any]]:
        return verify(ctx, prepared)

    def interfaces(self, ctx: RunContext, interfaces: dict[str, dict[str, Any]]) -> None:
        """Nothing to add here: the scope matrix binds pact checks from the pact files themselves, which also
        give it interfaces and dependencies (`phases.scope.build_matrix`, before the probes' checks)."""


KIND = PactKind()
