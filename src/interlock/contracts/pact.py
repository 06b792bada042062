"""Pact contracts: every consumer pact verified against the running provider.

Pacts come from folders and files, from http(s) URLs (fetched once per run,
saved under the artifacts' `logs/pacts/` and recorded with their SHA-256), and
from a Pact Broker (handed to the verifier's broker source with selectors).

Pacts are grouped by provider and kind (HTTP or message) into jobs; each job
runs in a worker process of its own (`contracts.pact_worker`). Jobs run
concurrently, up to `[contracts.pact] concurrency` at once (default four per
core: a verifier mostly waits for its provider), and at most `per_provider`
of one provider at once (default 1: the provider-state handlers of one
provider must not interleave), so a provider with several pact files is split
across at most `per_provider` jobs. Every interaction gets its own verdict; a
pact with no interactions, a worker that crashed, or an interaction the
verifier never reported is a failure, never a pass. A pending pact (the
Broker's meaning) is its own outcome, never a pass.

`--only ID` (an exact rerun) keeps just the named interactions or pacts; the
worker passes them to the verifier's filter.
"""

from __future__ import annotations

import json
import os
import queue
import re
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interlock.children import die_with_interlock
from interlock.documents import (
    FetchedPact,
    PactFile,
    fetch_pact,
    load_pact,
    pact_files,
    source_url,
)
from interlock.errors import UsageError
from interlock.events import Progress
from interlock.files import sha256_file
from interlock.probes import redact_url
from interlock.runtime import RunContext

WORKERS_PER_CORE = 4  # a verifier spends ~7 ms of CPU per interaction and the rest waiting for its provider
_ID = re.compile(r"^(?:pact:)?(?P<consumer>.+?)->(?P<provider>[^:]+?)(?:: (?P<description>.+))?$")


# --- sources -------------------------------------------------------------------------------------

@dataclass
class Plan:
    """What one run verifies: the pacts (selected by `only`), where each came from, and the jobs."""

    pacts: list[PactFile]
    origins: dict[Path, str] = field(default_factory=dict)  # a fetched pact's URL, by its saved path
    fetched: list[FetchedPact] = field(default_factory=list)
    broken: list[dict[str, Any]] = field(default_factory=list)  # records of sources that could not be read
    jobs: list[dict[str, Any]] = field(default_factory=list)
    selection: dict[Path, frozenset[str]] | None = None  # the descriptions kept per pact; None: all
    only: tuple[str, ...] = ()
    unmatched: list[str] = field(default_factory=list)  # ids of `only` that name no pact or broker provider
    concurrency: int = 1
    per_provider: int = 1


def _source_record(source: str, reason: str) -> dict[str, Any]:
    return {
        "id": f"pact:{source}", "kind": "pact", "consumer": "-", "provider": "-", "source": source, "specification": None,
        "status": "not_executed", "duration_ms": 0.0, "reason": reason, "interactions": [],
    }


def resolve_sources(ctx: RunContext) -> tuple[list[PactFile], dict[Path, str], list[FetchedPact], list[dict[str, Any]]]:
    """Load local pacts; fetch URL sources into the artifacts' logs/pacts/ (a fetch that fails is a not-executed record)."""
    pact = ctx.config.contracts.pact
    found = [load_pact(p) for p in pact_files(ctx.loaded.root, pact.sources)]
    origins: dict[Path, str] = {}
    fetched: list[FetchedPact] = []
    broken: list[dict[str, Any]] = []
    env = ctx.base_env()
    folder = ctx.artifacts.root / "logs" / "pacts"
    if folder.is_dir():
        for stale in folder.glob("*.json"):
            stale.unlink()  # fetched by an earlier run of this step: the evidence is what this run fetches
    for source in pact.sources:
        url = source_url(source)
        if url is None:
            continue
        url = ctx.expand(url)
        token_env = getattr(source, "token_env", None)
        if token_env and not env.get(token_env):
            got = FetchedPact(redact_url(url), None, None, f"environment variable {token_env} (token_env of the source) is not set")
        else:
            got = fetch_pact(url, folder, env.get(token_env) if token_env else None)
        fetched.append(got)
        if got.error or got.path is None:
            broken.append(_source_record(got.url, got.error or "not fetched"))
            continue
        try:
            item = load_pact(got.path)
        except UsageError as exc:
            problem = exc.problems[0] if getattr(exc, "problems", None) else exc
            broken.append(_source_record(got.url, f"not a readable pact: {getattr(problem, 'message', problem)} at {getattr(problem, 'key', None) or '$'}"))
            continue
        found.append(item)
        origins[item.path] = got.url
    return found, origins, fetched, broken


# --- selection (--only) --------------------------------------------------------------------------

def select_pacts(found: Sequence[PactFile], only: Sequence[str], broker_providers: Sequence[str] = ()) -> tuple[list[PactFile], dict[Path, frozenset[str]], list[str]]:
    """The pacts and descriptions `only` names (interaction ids, or `pact:C->P` for a whole pact), and the ids naming none (pure).

    An id of a broker provider's interaction is left to the broker job: it is not unmatched here.
    """
    wanted: dict[Path, set[str]] = {}
    unmatched = []
    for ident in only:
        hit = False
        for item in found:
            if ident in (f"pact:{item.consumer}->{item.provider}", f"{item.consumer}->{item.provider}"):
                wanted.setdefault(item.path, set()).update(i.description for i in item.interactions)
                hit = True
                continue
            for interaction in item.interactions:
                if item.interaction_id(interaction.description) == ident:
                    wanted.setdefault(item.path, set()).add(interaction.description)
                    hit = True
        if not hit:
            match = _ID.match(ident)
            if not (match and match["provider"] in broker_providers):
                unmatched.append(ident)
    kept = [item for item in found if item.path in wanted]
    return kept, {path: frozenset(names) for path, names in wanted.items()}, unmatched


def rust_escape(text: str) -> str:
    """`text` as a literal in a Rust `regex` pattern (the verifier's filter), escaping exactly what regex::escape does."""
    return re.sub(r"([\\.+*?()|\[\]{}^$#&\-~])", r"\\\1", text)


def description_filter(descriptions: Sequence[str]) -> str:
    return "^(?:" + "|".join(rust_escape(d) for d in sorted(set(descriptions))) + ")$"


# --- jobs and scheduling -------------------------------------------------------------------------

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


def build_jobs(ctx: RunContext, pacts: list[PactFile], selection: dict[Path, frozenset[str]] | None = None, only: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Jobs per (provider, kind), split across at most `per_provider` workers, plus one per broker provider; each carries only what its worker needs."""
    pact = ctx.config.contracts.pact
    assert pact is not None
    stores = ctx.stores()
    states = {n: s.model_dump(by_alias=True, exclude_none=True) for n, s in pact.states.items()}
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
        return (ctx.expand(runtime.url).rstrip("/") + "/") if runtime else None

    jobs = []
    for (provider, kind), files in sorted(groups.items()):
        chunks = split(files, pact.per_provider)
        for index, chunk in enumerate(chunks, 1):
            kept = [i for f in chunk for i in f.interactions if selection is None or i.description in selection.get(f.path, ())]
            everything = [i for f in chunk for i in f.interactions]
            job = ctx.expand_all({
                "id": f"{provider}-{kind}" + (f"-{index}" if len(chunks) > 1 else ""), "provider": provider, "kind": kind, "url": url_of(provider),
                "sources": [str(f.path) for f in chunk], "interactions": len(kept), "request_timeout_ms": pact.request_timeout_ms,
                "needs_states": any(i.states for i in kept), "states": states, "messages": messages if kind == "message" else {}, "stores": stores,
                "filter": {"description": description_filter([i.description for i in kept])} if len(kept) < len(everything) else None,
            })
            job["tls_free"] = tls_free(job, sorted({s for i in kept for s in i.states}))
            jobs.append(job)
    broker = pact.broker
    for provider in broker.providers if broker else []:
        named = [m for m in (_ID.match(i) for i in only) if m and m["provider"] == provider]
        if only and not named:
            continue
        descriptions = [m["description"] for m in named if m["description"]]
        wants_all = any(not m["description"] for m in named)
        consumers = sorted({m["consumer"] for m in named})
        job = {
            "id": f"{provider}-broker", "provider": provider, "kind": "broker", "url": url_of(provider), "sources": [], "interactions": 0,
            "request_timeout_ms": pact.request_timeout_ms, "needs_states": True, "states": states, "messages": messages, "stores": stores,
            "filter": {"description": None if wants_all or not descriptions else description_filter(descriptions), "consumers": consumers} if named else None,
            "broker": broker_job(broker), "tls_free": False,
        }
        jobs.append(ctx.expand_all(job))
    return jobs


def broker_job(broker: Any) -> dict[str, Any]:
    """The broker settings a worker needs; the token stays in its environment variable, never in a file."""
    return {
        "url": broker.url, "token_env": broker.token_env,
        "consumer_version_selectors": [s.model_dump(exclude_none=True) for s in broker.consumer_version_selectors],
        "include_pending": broker.include_pending, "include_wip_since": broker.include_wip_since,
        "provider_version": broker.provider_version, "provider_branch": broker.provider_branch, "provider_tags": list(broker.provider_tags),
        "publish_results": broker.publish_results,
    }


def tls_free(job: Mapping[str, Any], used_states: Sequence[str]) -> bool:
    """True when the job's worker makes no TLS connection at all (pure): an http:// provider, local pact files, and
    provider-state steps that only run SQL on SQLite or call http:// URLs. Anything else (a command, a network
    database, a message broker, a Pact Broker) may use TLS, and keeps the system's root certificates."""
    if job["kind"] != "http" or job.get("broker") or not str(job.get("url") or "").startswith("http://"):
        return False
    for name in used_states:
        for step in (job["states"].get(name) or {}).values():
            if not isinstance(step, Mapping) or step.get("command"):
                return False
            if step.get("http") and not str(step["http"].get("url", "")).startswith("http://"):
                return False
            if step.get("sql") and not str(job["stores"].get(step.get("store"), {}).get("url", "")).startswith("sqlite"):
                return False
    return True


def no_tls_roots(folder: Path) -> dict[str, str]:
    """SSL_CERT_FILE and SSL_CERT_DIR for workers that make no TLS connection: a root store of one throwaway certificate.

    The Rust verifier builds an HTTP client for every interaction and loads the whole system root store each
    time (about 290 files under /etc/ssl/certs: most of its ~7-12 ms of CPU per interaction on these machines).
    An empty store is refused ("builder error"), so the store holds one self-signed certificate whose private
    key is thrown away: a TLS connection made by mistake fails to verify rather than trusting anything.
    """
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "interlock: this pact worker expects no TLS")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(key, hashes.SHA256()))
    roots = folder / "roots"
    roots.mkdir(parents=True, exist_ok=True)
    bundle = roots / "throwaway.pem"
    bundle.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return {"SSL_CERT_FILE": str(bundle), "SSL_CERT_DIR": str(roots)}


def schedule(jobs: Sequence[dict[str, Any]], run: Callable[[dict[str, Any]], dict[str, Any]], concurrency: int, per_provider: int,
             done: Callable[[dict[str, Any], dict[str, Any]], None] | None = None) -> dict[str, dict[str, Any]]:
    """Run every job, at most `concurrency` at once and at most `per_provider` of one provider at once; outcomes by job id.

    The largest jobs start first, and a job waits for its provider rather than for a free slot, so
    no worker slot sits blocked on a busy provider.
    """
    queue = sorted(jobs, key=lambda j: (-int(j.get("interactions") or 0), j["id"]))
    busy: Counter[str] = Counter()
    running: dict[Future[dict[str, Any]], dict[str, Any]] = {}
    outcomes: dict[str, dict[str, Any]] = {}
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        while queue or running:
            for job in list(queue):
                if len(running) >= concurrency:
                    break
                if busy[job["provider"]] < per_provider:
                    queue.remove(job)
                    busy[job["provider"]] += 1
                    running[pool.submit(run, job)] = job
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                job = running.pop(future)
                busy[job["provider"]] -= 1
                try:
                    outcomes[job["id"]] = future.result()
                except Exception as exc:  # noqa: BLE001 - one job's failure is its interactions' verdict, not the run's end
                    outcomes[job["id"]] = {"results": {}, "error": f"the verifier job failed: {type(exc).__name__}: {exc}", "state_failures": {}}
                if done:
                    done(job, outcomes[job["id"]])
    return outcomes


class Workers:
    """Worker processes that verify one job after another (`pact_worker --serve`), at most one per concurrent slot.

    A job whose worker dies or overruns the timeout fails with the reason; that worker is ended and the
    next job gets a new one. Every worker is ended when the block ends. A worker dies with the pool
    thread that started it (`die_with_interlock`), and those threads outlive every job.
    """

    def __init__(self, env: Mapping[str, str], stderr: Path, timeout: float = 1800.0) -> None:
        self.env, self.stderr, self.timeout = dict(env), stderr, timeout
        self.idle: queue.SimpleQueue[subprocess.Popen[bytes]] = queue.SimpleQueue()
        self.started: list[subprocess.Popen[bytes]] = []
        self.lock = threading.Lock()

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self.started:
            if process.stdin and not process.stdin.closed:
                try:
                    process.stdin.close()  # end of input: the worker returns
                except OSError:
                    pass
        for process in self.started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _take(self) -> subprocess.Popen[bytes]:
        try:
            return self.idle.get_nowait()
        except queue.Empty:
            pass
        with self.stderr.open("ab") as err:
            process = subprocess.Popen([sys.executable, "-m", "interlock.contracts.pact_worker", "--serve"], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, stderr=err, env=self.env, preexec_fn=die_with_interlock())
        with self.lock:
            self.started.append(process)
        return process

    def run(self, job_path: Path, out_path: Path, log: Path, env: Mapping[str, str] | None) -> str | None:
        """Have a worker verify one job; None when it answered, else why it did not."""
        process = self._take()
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write((json.dumps({"job": str(job_path), "out": str(out_path), "log": str(log), "env": dict(env or {})}) + "\n").encode())
            process.stdin.flush()
        except OSError:
            process.kill()
            return f"the verifier worker exited {process.wait()} before the job; see logs/{self.stderr.name}"
        ready, _, _ = select.select([process.stdout], [], [], self.timeout)
        line = process.stdout.readline() if ready else b""
        if line.strip() == b"done":
            self.idle.put(process)
            return None
        process.kill()
        code = process.wait()
        return f"the verifier worker exited {code} during the job" if ready else f"the verifier job ran over {self.timeout:g}s and was stopped"


def run_job(ctx: RunContext, job: dict[str, Any], extra_env: Mapping[str, str] | None = None, workers: Workers | None = None) -> dict[str, Any]:
    """Verify one job in a worker process (a served one when `workers` is given); the verifier's report goes to a log artifact."""
    logs = ctx.artifacts.root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="interlock-pact-") as tmp:
        job_path, out_path = Path(tmp, "job.json"), Path(tmp, "out.json")
        job_path.write_text(json.dumps(job), "utf-8")
        log = logs / f"pact-{job['id']}.log"
        log.unlink(missing_ok=True)
        start = time.perf_counter()
        if workers is not None:
            failure = workers.run(job_path, out_path, log, extra_env)
        else:
            with log.open("wb") as out:
                try:
                    done = subprocess.run([sys.executable, "-m", "interlock.contracts.pact_worker", str(job_path), str(out_path)],
                                          stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env={**ctx.base_env(), **(extra_env or {}), "PACT_DO_NOT_TRACK": "true"}, timeout=1800,
                                          preexec_fn=die_with_interlock())
                    failure = None if done.returncode == 0 else f"the verifier worker exited {done.returncode}"
                except subprocess.TimeoutExpired:
                    failure = "the verifier job ran over 1800s and was stopped"
        if out_path.is_file():
            result: dict[str, Any] = json.loads(out_path.read_text("utf-8"))
            return result
        return {"results": {}, "output": "", "error": f"{failure or 'the verifier worker wrote no results'}; see logs/{log.name}",
                "duration_ms": (time.perf_counter() - start) * 1000, "state_failures": {}}


# --- results -------------------------------------------------------------------------------------

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


def _verdict(entry: dict[str, Any] | None, failed_states: list[str], error: str | None) -> tuple[str, list[dict[str, Any]]]:
    """One interaction's status and mismatches from its entry in `interactionResults` (None: never reported)."""
    if entry is None:
        return "not_executed", [{"type": "error", "path": None, "message": error or "the verifier did not report this interaction"}]
    found = _mismatches(entry)
    if entry.get("pending"):
        # Pending pacts (the Broker's meaning) are their own outcome: never a pass, never a failure.
        status = "pending"
        if entry.get("result") == "OK" and not failed_states:
            found = [{"type": "pending", "path": None, "message": "pending pact: verified, but pending pacts are not counted as passes"}]
    elif entry.get("result") == "OK" and not failed_states:
        status = "pass"
    else:
        status = "error" if found and found[0]["type"] == "error" and not failed_states else "fail"
    return status, [{"type": "provider-state", "path": None, "message": m} for m in failed_states] + found


def _captured(status: str, found: list[dict[str, Any]], failure: dict[str, str] | None) -> tuple[str, list[dict[str, Any]]]:
    """A message interaction whose message could not be captured: the capture's reason replaces the verifier's mismatch."""
    if failure is None or status == "pass":
        return status, found
    states = [m for m in found if m["type"] == "provider-state"]
    return ("fail" if states else failure["status"]), [*states, {"type": failure["type"], "path": None, "message": failure["message"]}]


def _overall(interactions: list[dict[str, Any]]) -> str:
    statuses = {i["status"] for i in interactions}
    return "not_executed" if not interactions or statuses == {"not_executed"} else "pass" if statuses <= {"pass"} else "fail"


def contract_records(pacts: list[PactFile], outcomes: Mapping[Any, dict[str, Any]], root: Path, origins: Mapping[Path, str] | None = None,
                     selection: Mapping[Path, frozenset[str]] | None = None) -> list[dict[str, Any]]:
    """Per pact file, per interaction: the verdict read from the verifier's results (pure).

    `outcomes` holds each pact's worker outcome by its path (or by (provider, kind)); `selection` keeps
    only the named interactions of a filtered run.
    """
    records = []
    for item in pacts:
        outcome = outcomes.get(item.path) or outcomes.get((item.provider, item.kind)) or {}
        reported = {(r.get("consumer"), r.get("description")): r for r in outcome.get("results", {}).get("interactionResults", [])}
        state_failures = outcome.get("state_failures", {})
        interactions: list[dict[str, Any]] = []
        for interaction in item.interactions:
            if selection is not None and interaction.description not in selection.get(item.path, ()):
                continue
            entry = reported.get((item.consumer, interaction.description))
            failed_states = [state_failures[s] for s in interaction.states if s in state_failures]
            status, found = _captured(*_verdict(entry, failed_states, outcome.get("error")), outcome.get("message_failures", {}).get(interaction.description))
            interactions.append({
                "id": item.interaction_id(interaction.description), "description": interaction.description,
                "provider_states": list(interaction.states), "status": status,
                "duration_ms": _duration_ms(entry.get("duration")) if entry else 0.0, "mismatches": found,
            })
        if (origins or {}).get(item.path):
            source = origins[item.path]  # type: ignore[index]
        else:
            source = item.path.relative_to(root).as_posix() if item.path.is_relative_to(root) else str(item.path)
        records.append({
            "id": f"pact:{item.consumer}->{item.provider}", "kind": f"pact-{item.kind}", "consumer": item.consumer, "provider": item.provider,
            "source": source, "specification": item.specification, "status": _overall(interactions),
            "duration_ms": round(sum(i["duration_ms"] for i in interactions), 3),
            "reason": None if interactions else "the pact has no interactions: nothing was verified", "interactions": interactions,
        })
    return records


def broker_records(provider: str, outcome: dict[str, Any], broker_url: str) -> list[dict[str, Any]]:
    """Records of a broker job: one per consumer the verifier reported, each interaction with its verdict (pure).

    Pacts from a broker are not known before the verifier fetches them, so what it reports is what was
    verified; a broker job that reported nothing is one not-executed record.
    """
    results = outcome.get("results", {}) or {}
    by_consumer: dict[str, list[dict[str, Any]]] = {}
    for entry in results.get("interactionResults", []):
        by_consumer.setdefault(str(entry.get("consumer") or "-"), []).append(entry)
    source = f"broker {redact_url(broker_url)}"
    state_failures = outcome.get("state_failures", {})
    if not by_consumer:
        reason = outcome.get("error") or f"the broker returned no pacts for provider {provider!r}: nothing was verified"
        return [{**_source_record(source, reason), "id": f"pact:broker->{provider}", "provider": provider}]
    records = []
    for consumer, entries in sorted(by_consumer.items()):
        interactions: list[dict[str, Any]] = []
        for entry in entries:
            states = [str(s) for s in entry.get("providerStates") or []]
            status, found = _verdict(entry, [state_failures[s] for s in states if s in state_failures], outcome.get("error"))
            status, found = _captured(status, found, outcome.get("message_failures", {}).get(str(entry.get("description"))))
            interactions.append({
                "id": f"{consumer}->{provider}: {entry.get('description')}", "description": str(entry.get("description")),
                "provider_states": states, "status": status, "duration_ms": _duration_ms(entry.get("duration")), "mismatches": found,
            })
        records.append({
            "id": f"pact:{consumer}->{provider}", "kind": "pact", "consumer": consumer, "provider": provider, "source": source,
            "specification": None, "status": _overall(interactions), "duration_ms": round(sum(i["duration_ms"] for i in interactions), 3),
            "reason": None, "interactions": interactions,
        })
    return records


# --- the kind's interface: prepare, settings, verify ---------------------------------------------

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


def pacts(ctx: RunContext) -> list[PactFile]:
    """Every pact of the configured sources (URL sources fetched)."""
    return resolve_sources(ctx)[0] if ctx.config.contracts.pact else []


def settings(ctx: RunContext, plan: Plan | None = None) -> dict[str, Any] | None:
    """What contract-validation-config.json records of the pact verifier."""
    pact = ctx.config.contracts.pact
    if pact is None:
        return None
    plan = plan or prepare(ctx)
    root = ctx.loaded.root

    def shown(path: Path) -> str:
        return plan.origins.get(path) or (path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path))

    def artifact_path(path: Path) -> str:
        return path.relative_to(ctx.artifacts.root).as_posix() if path.is_relative_to(ctx.artifacts.root) else str(path)

    broker = pact.broker
    return {
        "verifier": "pact.verifier.Verifier (Rust reference verifier, offline)",
        "sources": [redact_url(getattr(s, "url", s)) if source_url(s) else s for s in pact.sources],
        "pact_files": [{"path": shown(p.path), "sha256": sha256_file(p.path), "consumer": p.consumer, "provider": p.provider, "kind": p.kind,
                        "specification": p.specification, "interactions": len(p.interactions)} for p in plan.pacts],
        "fetched": [{"url": f.url, "saved_as": artifact_path(f.path) if f.path else None, "sha256": f.sha256, "error": f.error} for f in plan.fetched],
        "broker": {**broker_job(broker), "url": redact_url(broker.url), "providers": list(broker.providers),
                   "source": "pact.verifier.Verifier.broker_source(selector=True)"} if broker else None,
        "request_timeout_ms": pact.request_timeout_ms, "provider_states": sorted(pact.states),
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
    by_path = {Path(source): outcomes[job["id"]] for job in plan.jobs for source in job["sources"]}
    records = plan.broken + contract_records(plan.pacts, by_path, ctx.loaded.root, plan.origins, plan.selection)
    for job in plan.jobs:
        if job["kind"] == "broker":
            records += broker_records(job["provider"], outcomes[job["id"]], pact.broker.url)
    return records
