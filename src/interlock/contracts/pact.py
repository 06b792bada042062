"""Pact contracts: every consumer pact verified against the running provider.

Pacts are grouped by provider and kind (HTTP or message); each group runs in
a worker process of its own (`contracts.pact_worker`), groups of different
providers concurrently. Every interaction gets its own verdict; a pact with no
interactions, a worker that crashed, or an interaction the verifier never
reported is a failure, never a pass.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from interlock.documents import PactFile, load_pact, pact_files
from interlock.events import Progress
from interlock.probes import redact_url
from interlock.runtime import RunContext



def build_jobs(ctx: RunContext, pacts: list[PactFile]) -> list[dict[str, Any]]:
    """One job per (provider, kind), carrying only what the worker needs."""
    pact = ctx.config.contracts.pact
    assert pact is not None
    stores = ctx.stores()
    states = {n: s.model_dump(by_alias=True, exclude_none=True) for n, s in pact.states.items()}
    messages = {
        n: {**m.model_dump(by_alias=True, exclude_none=True, exclude={"broker"}), "broker": ctx.env.brokers[m.broker].model_dump()}
        for n, m in pact.messages.items()
    }
    groups: dict[tuple[str, str], list[PactFile]] = {}
    for item in pacts:
        if item.interactions:
            groups.setdefault((item.provider, item.kind), []).append(item)
    jobs = []
    for (provider, kind), files in sorted(groups.items()):
        runtime = ctx.env.services.get(provider)
        jobs.append(ctx.expand_all({
            "provider": provider, "kind": kind, "url": (runtime.url.rstrip("/") + "/") if runtime else None,
            "sources": [str(f.path) for f in files], "request_timeout_ms": pact.request_timeout_ms,
            "states": states, "messages": messages if kind == "message" else {}, "stores": stores,
        }))
    return jobs


def run_job(ctx: RunContext, job: dict[str, Any]) -> dict[str, Any]:
    """Run one worker process; its stdout (the verifier's report) goes to a log artifact."""
    logs = ctx.artifacts.root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="interlock-pact-") as tmp:
        job_path, out_path = Path(tmp, "job.json"), Path(tmp, "out.json")
        job_path.write_text(json.dumps(job), "utf-8")
        log = logs / f"pact-{job['provider']}-{job['kind']}.log"
        start = time.perf_counter()
        with log.open("wb") as out:
            try:
                done = subprocess.run([sys.executable, "-m", "interlock.contracts.pact_worker", str(job_path), str(out_path)],
                                      stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env={**ctx.base_env(), "PACT_DO_NOT_TRACK": "true"}, timeout=1800)
                code = done.returncode
            except subprocess.TimeoutExpired:
                code = -1
        if out_path.is_file():
            return json.loads(out_path.read_text("utf-8"))
        return {"results": {}, "output": "", "error": f"the verifier worker exited {code} without results; see {log.name}", "duration_ms": (time.perf_counter() - start) * 1000, "state_failures": {}}


def _mismatches(entry: dict[str, Any]) -> list[dict[str, Any]]:
    mismatch = entry.get("mismatch") or {}
    if mismatch.get("type") == "error":
        return [{"type": "error", "path": None, "message": str(mismatch.get("message", "verification error"))}]
    return [
        {"type": m.get("type", "Mismatch"), "path": m.get("path"), "expected": m.get("expected"), "actual": m.get("actual"), "message": str(m.get("mismatch") or m.get("type"))}
        for m in mismatch.get("mismatches", [])
    ]


def _duration_ms(text: Any) -> float:
    value = str(text or "0")
    for suffix, factor in (("ms", 1.0), ("s", 1000.0)):
        if value.endswith(suffix):
            try:
                return float(value[: -len(suffix)]) * factor
            except ValueError:
                return 0.0
    return 0.0


def contract_records(pacts: list[PactFile], outcomes: dict[tuple[str, str], dict[str, Any]], root: Path) -> list[dict[str, Any]]:
    """Per pact file, per interaction: the verdict read from the verifier's results (pure)."""
    records = []
    for item in pacts:
        outcome = outcomes.get((item.provider, item.kind), {})
        reported = {(r.get("consumer"), r.get("description")): r for r in outcome.get("results", {}).get("interactionResults", [])}
        state_failures = outcome.get("state_failures", {})
        interactions = []
        for interaction in item.interactions:
            entry = reported.get((item.consumer, interaction.description))
            failed_states = [state_failures[s] for s in interaction.states if s in state_failures]
            if entry is None:
                status, found = "not_executed", [{"type": "error", "path": None, "message": outcome.get("error") or "the verifier did not report this interaction"}]
            else:
                found = _mismatches(entry)
                if entry.get("pending") and entry.get("result") != "OK":
                    status = "pending"
                elif entry.get("result") == "OK" and not failed_states:
                    status = "pass"
                else:
                    status = "error" if found and found[0]["type"] == "error" and not failed_states else "fail"
            found = [{"type": "provider-state", "path": None, "message": m} for m in failed_states] + found
            interactions.append({
                "id": item.interaction_id(interaction.description), "description": interaction.description,
                "provider_states": list(interaction.states), "status": status,
                "duration_ms": _duration_ms(entry.get("duration")) if entry else 0.0, "mismatches": found,
            })
        statuses = {i["status"] for i in interactions}
        overall = "not_executed" if not interactions or statuses == {"not_executed"} else "pass" if statuses <= {"pass"} else "fail"
        source = item.path.relative_to(root).as_posix() if item.path.is_relative_to(root) else str(item.path)
        records.append({
            "id": f"pact:{item.consumer}->{item.provider}", "kind": f"pact-{item.kind}", "consumer": item.consumer, "provider": item.provider,
            "source": source, "specification": item.specification, "status": overall,
            "duration_ms": round(sum(i["duration_ms"] for i in interactions), 3),
            "reason": None if interactions else "the pact has no interactions: nothing was verified", "interactions": interactions,
        })
    return records


def pacts(ctx: RunContext) -> list[PactFile]:
    pact = ctx.config.contracts.pact
    return [load_pact(p) for p in pact_files(ctx.loaded.root, pact.sources)] if pact else []


def settings(ctx: RunContext) -> dict[str, Any] | None:
    """What contract-validation-config.json records of the pact verifier."""
    pact = ctx.config.contracts.pact
    if pact is None:
        return None
    found = pacts(ctx)
    return {
        "verifier": "pact.verifier.Verifier (Rust reference verifier, offline)", "sources": pact.sources,
        "pact_files": [{"path": str(p.path.relative_to(ctx.loaded.root)), "consumer": p.consumer, "provider": p.provider, "kind": p.kind, "specification": p.specification, "interactions": len(p.interactions)} for p in found],
        "request_timeout_ms": pact.request_timeout_ms, "provider_states": sorted(pact.states),
        "messages": {n: {"broker": m.broker, "topic": m.topic, "timeout": m.timeout} for n, m in pact.messages.items()},
        "providers": {j["provider"] + "/" + j["kind"]: redact_url(j["url"]) if j["url"] else "message relay" for j in build_jobs(ctx, found)},
        "concurrency": max(1, min(len(build_jobs(ctx, found)), os.cpu_count() or 1)),
    }


def verify(ctx: RunContext) -> list[dict[str, Any]]:
    """Verify every pact, providers concurrently (bounded by cores); one record per pact file."""
    found = pacts(ctx)
    jobs = build_jobs(ctx, found)
    outcomes: dict[tuple[str, str], dict[str, Any]] = {}
    ctx.emit(Progress("2.2", 0, len(jobs), "pact providers verified"))
    with ThreadPoolExecutor(max_workers=max(1, min(len(jobs), os.cpu_count() or 1))) as pool:
        futures = {(j["provider"], j["kind"]): pool.submit(run_job, ctx, j) for j in jobs}
        for done, (key, future) in enumerate(futures.items(), 1):
            outcomes[key] = future.result()
            ctx.emit(Progress("2.2", done, len(jobs), "pact providers verified"))
    return contract_records(found, outcomes, ctx.loaded.root)
