"""Issue 5: pacts of different providers must be verified side by side, not one after another.

20 pacts of 50 interactions each, against 20 local providers that answer every
request after 10 ms, are verified by interlock's pact kind (the code path of
step 2.2: `interlock.contracts.pact.verify` over a RunContext whose
environment declares the 20 providers as externally run services) and, as the
baseline, one after another by pact-python's `Verifier` alone in this process.

The providers are one asyncio server in a child process, listening on 20
ports (the parent binds them, so no race); each answers `GET /items/N` with
the item the pact expects, so every interaction must pass in both runs, else
the line carries an error. CPU time is counted for both: this process's own
plus that of its reaped children (the interlock workers).

The verifier spends about 7 ms of CPU per interaction, so on C cores the run
cannot take less than about 1000 x 7 ms / C: with 2 cores the floor is near
0.19 of the sequential time, and the target is 0.25. Most of those 7 ms are
the verifier loading the system's TLS root store for every interaction;
interlock's workers that make no TLS connection load a one-certificate store
instead (see `interlock.contracts.pact.no_tls_roots`), so the line also shows
`system_roots_s`: interlock's run with the system roots, i.e. what the
concurrency alone buys.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import resource
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmark import Benchmark, Measurement

PROVIDERS = 20
INTERACTIONS = 50
DELAY_S = 0.010
BACKLOG = 256


def item(provider: int, number: int) -> dict[str, Any]:
    """What provider `provider` answers for item `number`, and so what its pact expects."""
    return {"id": number, "provider": f"provider-{provider:02d}", "name": f"item {number} of provider {provider:02d}", "tags": ["a", "b"], "price": {"cents": 100 * number, "currency": "EUR"}}


def pact_document(provider: int) -> dict[str, Any]:
    """A V3 pact of INTERACTIONS GET requests, each matching what the provider answers exactly."""
    return {
        "consumer": {"name": f"consumer-{provider:02d}"}, "provider": {"name": f"provider-{provider:02d}"},
        "interactions": [
            {
                "description": f"a request for item {n}",
                "request": {"method": "GET", "path": f"/items/{n}"},
                "response": {"status": 200, "headers": {"Content-Type": "application/json"}, "body": item(provider, n)},
            }
            for n in range(1, INTERACTIONS + 1)
        ],
        "metadata": {"pactSpecification": {"version": "3.0.0"}},
    }


# --- the providers: one asyncio process, 20 listening sockets -------------------------------------

def _response(status: int, body: bytes) -> bytes:
    reason = {200: "OK", 404: "Not Found"}[status]
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


async def _answer(provider: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Keep-alive HTTP/1.1: each request answered after DELAY_S with the item its path names."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *headers = head.decode("latin-1").split("\r\n")
            length = next((int(h.split(":", 1)[1]) for h in headers if h.lower().startswith("content-length:")), 0)
            if length:
                await reader.readexactly(length)
            path = request_line.split(" ")[1] if " " in request_line else "/"
            await asyncio.sleep(DELAY_S)
            try:
                number = int(path.rsplit("/", 1)[-1]) if path.startswith("/items/") else 0
            except ValueError:
                number = 0
            if 1 <= number <= INTERACTIONS:
                writer.write(_response(200, json.dumps(item(provider, number)).encode()))
            else:
                writer.write(_response(404, b'{"error": "not found"}'))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def _serve(listeners: list[socket.socket]) -> None:
    servers = []
    for index, listener in enumerate(listeners, 1):
        servers.append(await asyncio.start_server(lambda r, w, p=index: _answer(p, r, w), sock=listener))
    await asyncio.gather(*(s.serve_forever() for s in servers))


def _serve_process(listeners: list[socket.socket]) -> None:
    asyncio.run(_serve(listeners))


@contextmanager
def providers() -> Iterator[list[str]]:
    """URLs of the 20 providers, served by one child process until the block ends."""
    listeners = [socket.create_server(("127.0.0.1", 0), backlog=BACKLOG) for _ in range(PROVIDERS)]
    process = multiprocessing.Process(target=_serve_process, args=(listeners,), daemon=True)
    process.start()
    try:
        yield [f"http://127.0.0.1:{s.getsockname()[1]}" for s in listeners]
    finally:
        process.terminate()
        process.join()
        for s in listeners:
            s.close()


# --- the two runs ---------------------------------------------------------------------------------

def write_system(root: Path, urls: list[str]) -> None:
    """A minimal system under test: interlock.toml with the 20 providers as externally run services, and the pacts."""
    (root / "pacts").mkdir(parents=True)
    lines = [
        '[project]\nname = "bench-pact"\n',
        '[prerequisites.feature_list]\npath = "features.json"\nversion = "1"\n',
        '[prerequisites.architecture_contracts]\npath = "pacts"\nversion = "1"\n',
        '[prerequisites.environment_baseline]\npath = "baseline.toml"\nversion = "1"\n',
    ]
    for index, url in enumerate(urls, 1):
        lines.append(f'[services.provider-{index:02d}]\ndescription = "bench provider"\n')
        lines.append(f'[environments.bench.services.provider-{index:02d}]\nurl = "{url}"\n')
        (root / "pacts" / f"consumer-{index:02d}-provider-{index:02d}.json").write_text(json.dumps(pact_document(index)), "utf-8")
    lines.append('[contracts.pact]\nsources = ["pacts"]\nrequest_timeout_ms = 10000\n')
    (root / "interlock.toml").write_text("\n".join(lines), "utf-8")


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_interlock(root: Path) -> tuple[float, float, list[str], dict[str, Any]]:
    """Wall and CPU seconds of interlock's pact kind over the system at `root`, the failures, and its settings."""
    from interlock.artifacts import ArtifactDir
    from interlock.config import load
    from interlock.context import RunContext
    from interlock.contracts import pact
    from interlock.runspec import build

    loaded = load(root / "interlock.toml")
    ctx = RunContext(build(loaded, "bench"), ArtifactDir(root / "artifacts"), lambda event: None, lambda kind: (True, "bench"), "bench")
    cpu, start = cpu_seconds(), time.perf_counter()
    plan = pact.prepare(ctx)
    records = pact.verify(ctx, plan)
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    failures = [f"{i['id']}: {i['status']} {i['mismatches'][:1]}" for r in records for i in r["interactions"] if i["status"] != "pass"]
    failures += [f"{r['id']}: {r['status']} {r['reason']}" for r in records if not r["interactions"]]
    count = sum(len(r["interactions"]) for r in records)
    if count != PROVIDERS * INTERACTIONS:
        failures.append(f"interlock reported {count} interactions, not {PROVIDERS * INTERACTIONS}")
    return wall, cpu, failures, {"concurrency": plan.concurrency, "jobs": len(plan.jobs), "tls_free_jobs": sum(1 for j in plan.jobs if j["tls_free"])}


def run_interlock_system_roots(root: Path) -> tuple[float, float, list[str]]:
    """The same run with every worker loading the system's TLS roots, as a plain Verifier does: concurrency alone."""
    from interlock.contracts import pact

    narrowed = pact.tls_free
    pact.tls_free = lambda job, used_states: False  # type: ignore[assignment]
    try:
        wall, cpu, failures, _ = run_interlock(root)
    finally:
        pact.tls_free = narrowed  # type: ignore[assignment]
    return wall, cpu, failures


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """The Rust verifier prints its report to file descriptor 1: keep it off the benchmark's JSON lines."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def run_baseline(root: Path, urls: list[str]) -> tuple[float, float, list[str]]:
    """Wall and CPU seconds of the same pacts verified one after another by pact-python's Verifier alone, and the failures."""
    os.environ["PACT_DO_NOT_TRACK"] = "true"
    from pact.verifier import Verifier

    failures: list[str] = []
    count = 0
    cpu, start = cpu_seconds(), time.perf_counter()
    with quiet_stdout():
        for index, url in enumerate(urls, 1):
            verifier = Verifier(f"provider-{index:02d}", host="127.0.0.1").add_transport(url=url + "/")
            verifier.set_request_timeout(10000).set_coloured_output(enabled=False)
            verifier.add_source(str(root / "pacts" / f"consumer-{index:02d}-provider-{index:02d}.json"))
            try:
                verifier.verify()
            except RuntimeError as exc:
                failures.append(f"provider-{index:02d}: {exc}")
            results = verifier.results.get("interactionResults", [])
            count += len(results)
            failures += [f"provider-{index:02d}: {r.get('description')}: {r.get('result')}" for r in results if r.get("result") != "OK"]
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    if count != PROVIDERS * INTERACTIONS:
        failures.append(f"the baseline verified {count} interactions, not {PROVIDERS * INTERACTIONS}")
    return wall, cpu, failures


def measure() -> Measurement:
    with tempfile.TemporaryDirectory(prefix="interlock-bench-pact-") as tmp, providers() as urls:
        root = Path(tmp)
        write_system(root, urls)
        value, cpu, failed, plan = run_interlock(root)
        baseline, baseline_cpu, baseline_failed = run_baseline(root, urls)
        roots_value, roots_cpu, roots_failed = run_interlock_system_roots(root)
    extra: dict[str, Any] = {
        "unit": "s", "pacts": PROVIDERS, "interactions": PROVIDERS * INTERACTIONS, "provider_delay_ms": DELAY_S * 1000,
        "cores": os.cpu_count(), **plan, "cpu_s": round(cpu, 3), "baseline_cpu_s": round(baseline_cpu, 3),
        "cpu_ms_per_interaction": round(1000 * cpu / (PROVIDERS * INTERACTIONS), 2),
        "baseline_cpu_ms_per_interaction": round(1000 * baseline_cpu / (PROVIDERS * INTERACTIONS), 2),
        "system_roots_s": round(roots_value, 3), "system_roots_ratio": round(roots_value / baseline, 3), "system_roots_cpu_s": round(roots_cpu, 3),
        "failed": len(failed), "baseline_failed": len(baseline_failed), "system_roots_failed": len(roots_failed),
    }
    problems = [f"interlock: {f}" for f in failed] + [f"baseline: {f}" for f in baseline_failed] + [f"interlock (system roots): {f}" for f in roots_failed]
    if problems:
        extra["error"] = f"{len(problems)} failures, first {problems[0]}"[:500]
    return value, baseline, extra


BENCHMARKS = [Benchmark("pact.verify.20x50", 0.25, measure)]
