"""The verifier's jobs: pacts grouped by provider and kind, split across workers, each carrying only what its worker needs (pure but for the config)."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from interlock.contracts.pact.sources import DESCRIPTION_PART, ID_PATTERN
from interlock.contracts.pact_worker import handler_of, missing_handler
from interlock.documents import PactFile
from interlock.errors import Problem
from interlock.context import RunContext

WORKERS_PER_CORE = 4  # a verifier spends ~7 ms of CPU per interaction and the rest waiting for its provider


def rust_escape(text: str) -> str:
    """`text` as a literal in a Rust `regex` pattern (the verifier's filter), escaping exactly what regex::escape does."""
    return re.sub(r"([\\.+*?()|\[\]{}^$#&\-~])", r"\\\1", text)


def description_filter(descriptions: Sequence[str]) -> str:
    return "^(?:" + "|".join(rust_escape(d) for d in sorted(set(descriptions))) + ")$"


def split(files: Sequence[PactFile], parts: int) -> list[list[PactFile]]:
    """At most `parts` chunks of pact files with about equal interaction counts (largest first into the lightest chunk)."""
    chunks: list[list[PactFile]] = [[] for _ in range(max(1, min(parts, len(files))))]
    weights = [0] * len(chunks)
    for item in sorted(files, key=lambda f: (-len(f.interactions), str(f.path))):
        lightest = weights.index(min(weights))
        chunks[lightest].append(item)
        weights[lightest] += len(item.interactions)
    return [sorted(c, key=lambda f: str(f.path)) for c in chunks if c]


def default_concurrency(jobs: int, configured: int | None, cores: int | None = None) -> int:
    """Worker processes at once: the configured number, else WORKERS_PER_CORE per core; never more than the jobs."""
    wanted = configured or WORKERS_PER_CORE * (cores or os.cpu_count() or 1)
    return max(1, min(jobs, wanted))


def build_jobs(ctx: RunContext, pacts: list[PactFile], selection: dict[Path, frozenset[int]] | None = None, only: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Jobs per (provider, kind), split across at most `per_provider` workers, plus one per broker provider; each carries only what its worker needs."""
    pact = ctx.config.contracts.pact
    assert pact is not None
    stores = ctx.stores()
    messages = {
        n: {**m.model_dump(by_alias=True, exclude_none=True, exclude={"broker"}), "broker": ctx.env.brokers[m.broker].model_dump()}
        for n, m in pact.messages.items() if m.broker in ctx.env.brokers
    }
    groups: dict[tuple[str, str], list[PactFile]] = {}
    for item in pacts:
        if item.interactions:
            groups.setdefault((item.provider, item.kind), []).append(item)

    def url_of(provider: str) -> str | None:
        runtime = ctx.env.services.get(provider)
        return (runtime.url.rstrip("/") + "/") if runtime else None

    variables = ctx.base_env()

    def headers(provider: str) -> dict[str, Any]:
        written = pact.providers[provider].headers if provider in pact.providers else {}
        filled, missing = fill_variables(written, variables)
        return {"headers": filled, "headers_missing": missing}

    def handlers(provider: str) -> dict[str, Any]:
        service = ctx.config.services.get(provider)
        return state_handlers(pact, provider, url_of(provider), service.state_url if service else None)

    jobs = []
    for (provider, kind), files in sorted(groups.items()):
        stateful = any(i.states for f in files for i in f.interactions)
        chunks = by_consumer(files) if stateful else split(files, pact.per_provider)
        for index, chunk in enumerate(chunks, 1):
            keep = {str(f.path): sorted(selection.get(f.path, ())) for f in chunk} if selection is not None else {}
            kept = [i for f in chunk for n, i in enumerate(f.interactions) if selection is None or n in selection.get(f.path, ())]
            everything = [i for f in chunk for i in f.interactions]
            consumers = sorted({f.consumer for f in chunk})
            job = ctx.spec.expand_all({
                "id": f"{provider}-{kind}" + (f"-{index}" if len(chunks) > 1 else ""), "provider": provider, "kind": kind, "url": url_of(provider),
                "consumer": consumers[0] if len(consumers) == 1 else None,
                "sources": [str(f.path) for f in chunk], "interactions": len(kept), "request_timeout_ms": pact.request_timeout_ms,
                "needs_states": any(i.states for i in kept), **handlers(provider), "messages": messages if kind == "message" else {}, "stores": stores,
                "filter": {"description": description_filter([i.description for i in kept])} if len(kept) < len(everything) else None,
                "keep": keep if len(kept) < len(everything) else None,  # exactly these interactions, by index (`pact_worker.kept_sources`)
                **headers(provider),
            })
            job["tls_free"] = tls_free(job, sorted({s for i in kept for s in i.states}))
            jobs.append(job)
    broker = pact.broker
    for provider in broker.providers if broker else []:
        named = [m for m in (ID_PATTERN.match(i) for i in only) if m and m["provider"] == provider]
        if only and not named:
            continue
        parts = [DESCRIPTION_PART.match(m["description"]) for m in named if m["description"]]
        descriptions = [part["description"] for part in parts if part]
        states = [state for part in parts if part and part["states"] for state in part["states"].split("; ")]
        wants_all = any(not m["description"] for m in named)
        # every named id gives its states: the verifier may narrow by them too (one given none would be cut out)
        by_state = description_filter(states) if states and all(part and part["states"] for part in parts) and not wants_all else None
        consumers = sorted({m["consumer"] for m in named})
        job = {
            "id": f"{provider}-broker", "provider": provider, "kind": "broker", "url": url_of(provider), "sources": [], "interactions": 0,
            "consumer": None, "request_timeout_ms": pact.request_timeout_ms, "needs_states": True, **handlers(provider), "messages": messages, "stores": stores,
            "filter": {"description": None if wants_all or not descriptions else description_filter(descriptions), "state": by_state,
                       "consumers": consumers} if named else None,
            "broker": broker_job(broker), "tls_free": False, **headers(provider),
            "pact_provider": next(iter(ctx.config.services[provider].pact_names), provider),  # the name the broker files its pacts under
        }
        jobs.append(ctx.spec.expand_all(job))
    return jobs


VARIABLE = re.compile(r"\{(?!(?:root|python|workdir|artifacts)\})([A-Za-z_][A-Za-z0-9_]*)\}")  # interlock's own placeholders are filled later


def fill_variables(values: Mapping[str, str], variables: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """`values` with each `{NAME}` filled from `variables` (pure), and the names that are not set (sorted).

    Every variable named here is a secret of the run's redactor (`secrets.for_environment`).
    """
    missing: set[str] = set()

    def one(match: re.Match[str]) -> str:
        if match.group(1) not in variables:
            missing.add(match.group(1))
            return match.group(0)
        return variables[match.group(1)]

    return {name: VARIABLE.sub(one, value) for name, value in values.items()}, sorted(missing)


def broker_job(broker: Any) -> dict[str, Any]:
    """The broker settings a worker needs; the token stays in its environment variable, never in a file."""
    return {
        "url": broker.url, "token_env": broker.token_env,
        "consumer_version_selectors": [s.model_dump(exclude_none=True) for s in broker.consumer_version_selectors],
        "include_pending": broker.include_pending, "include_wip_since": broker.include_wip_since,
        "provider_version": broker.provider_version, "provider_branch": broker.provider_branch, "provider_tags": list(broker.provider_tags),
        "publish_results": broker.publish_results,
    }


def by_consumer(files: Sequence[PactFile]) -> list[list[PactFile]]:
    """One chunk per consumer: a state change then knows the consumer whose interaction it prepares."""
    chunks: dict[str, list[PactFile]] = {}
    for item in sorted(files, key=lambda f: (f.consumer, str(f.path))):
        chunks.setdefault(item.consumer, []).append(item)
    return list(chunks.values())


def state_handlers(pact: Any, provider: str, url: str | None, state_url: str | None) -> dict[str, Any]:
    """A job's provider-state handlers (pure): the provider's own, its state-change URL, then the global ones.

    Each handler is `{"setup": [actions], "teardown": [actions]}`; a `state_url` path is joined to the
    provider's URL in this environment.
    """
    def lists(states: Mapping[str, Any]) -> dict[str, dict[str, list[dict[str, Any]]]]:
        return {name: {phase: [a.model_dump(by_alias=True, exclude_none=True) for a in state.actions(phase)] for phase in ("setup", "teardown")}
                for name, state in states.items()}

    own = pact.providers.get(provider)
    if state_url and not state_url.lower().startswith(("http://", "https://")):
        state_url = (url or "").rstrip("/") + state_url if url else None
    return {"own_states": lists(own.states) if own else {}, "state_url": state_url, "states": lists(pact.states)}


def unhandled_states(config: Any, pacts: Sequence[PactFile]) -> list[Problem]:
    """Problems for every state a pact names that nothing would handle for its provider (what `config check` refuses; pure).

    One per pact file, provider and state, naming the config key that would handle it.
    """
    pact = config.contracts.pact
    if pact is None:
        return []
    problems = []
    for item in pacts:
        service = config.services.get(item.provider)
        if service is not None and service.state_url:
            continue
        job = {"own_states": pact.providers[item.provider].states if item.provider in pact.providers else {}, "state_url": None, "states": pact.states}
        for state in sorted({s for i in item.interactions for s in i.states if s}):
            if handler_of(job, state) is None:
                close = difflib.get_close_matches(state, [*job["own_states"], *job["states"]], n=1, cutoff=0.8)  # a typo, not a sibling state
                hint = f"; did you mean {close[0]!r}, which has one?" if close else ""
                problems.append(Problem(str(item.path), f"{missing_handler(item.provider, state)} (the pact names it){hint}",
                                        key=f'contracts.pact.providers.{item.provider}.states."{state}"'))
    return problems


def tls_free(job: Mapping[str, Any], used_states: Sequence[str]) -> bool:
    """True when the job's worker makes no TLS connection at all (pure): an http:// provider, local pact files, and
    provider-state steps that only run SQL on SQLite or call http:// URLs. Anything else (a command, a network
    database, a message broker, a Pact Broker) may use TLS, and keeps the system's root certificates."""
    if job["kind"] != "http" or job.get("broker") or not str(job.get("url") or "").startswith("http://"):
        return False
    for name in used_states:
        found = handler_of(job, name)
        if found is None:
            continue
        if found[0] == "url":
            if not str(found[1]).startswith("http://"):
                return False
            continue
        for step in (s for phase in found[1].values() for s in phase):
            if not isinstance(step, Mapping) or step.get("command"):
                return False
            if step.get("http") and not str(step["http"].get("url", "")).startswith("http://"):
                return False
            if step.get("sql") and not str(job["stores"].get(step.get("store"), {}).get("url", "")).startswith("sqlite"):
                return False
    return True
