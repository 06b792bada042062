"""Live execution: the verifier's jobs run in worker processes, concurrently within the bounds, each report saved as a log artifact."""

from __future__ import annotations

import json
import os
import queue
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from interlock.children import die_with_interlock
from interlock.context import RunContext


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

    A job that changes provider states (`needs_states`) has its provider to itself: one provider's state
    changes never interleave, whatever `per_provider` says; other providers' jobs still run beside it.
    The largest jobs start first, and a job waits for its provider rather than for a free slot, so
    no worker slot sits blocked on a busy provider.
    """
    queue = sorted(jobs, key=lambda j: (-int(j.get("interactions") or 0), j["id"]))
    busy: Counter[str] = Counter()
    exclusive: set[str] = set()
    running: dict[Future[dict[str, Any]], dict[str, Any]] = {}
    outcomes: dict[str, dict[str, Any]] = {}
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        while queue or running:
            for job in list(queue):
                if len(running) >= concurrency:
                    break
                provider, stateful = job["provider"], bool(job.get("needs_states"))
                if provider not in exclusive and busy[provider] < (1 if stateful else per_provider):
                    queue.remove(job)
                    busy[provider] += 1
                    if stateful:
                        exclusive.add(provider)
                    running[pool.submit(run, job)] = job
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                job = running.pop(future)
                busy[job["provider"]] -= 1
                if job.get("needs_states"):
                    exclusive.discard(job["provider"])
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
    trace_id = os.urandom(16).hex() if ctx.services.otlp_endpoint else None  # the verifier's `traceparent`: providers' spans join the job's trace
    if trace_id:
        job = {**job, "traceparent": f"00-{trace_id}-{os.urandom(8).hex()}-01"}
    return {**_run_job(ctx, job, extra_env, workers), "job": job["id"], "trace_id": trace_id}


def _run_job(ctx: RunContext, job: dict[str, Any], extra_env: Mapping[str, str] | None, workers: Workers | None) -> dict[str, Any]:
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
