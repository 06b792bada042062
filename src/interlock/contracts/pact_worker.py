"""One job of pacts (one provider's files, or its pacts from a Pact Broker), verified by pact-python's Rust verifier.

Run as `python -m interlock.contracts.pact_worker JOB.json RESULT.json` for one
job, or as `python -m interlock.contracts.pact_worker --serve` to verify one job
after another: each request is a JSON line on stdin (`job`, `out`, `log`,
`env`), each answer a `done` line on the process's original stdout. The
verifier prints its report straight to file descriptor 1, so during a job
descriptors 1 and 2 point at that job's log artifact; the verdict is read from
`Verifier.results`, never from the exit status alone. A served worker saves
the interpreter start and pact-python's import (~0.15 s of CPU) per job.

The process imports only pact-python until a provider state or a message needs
interlock's actions (SQLAlchemy, httpx, broker clients): twenty workers must
not spend their CPU on imports the verifier does not use.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pact.types import Message


def handler_of(job: Mapping[str, Any], state: str) -> tuple[str, Any] | None:
    """Who handles `state` in this job: ("own" | "global", handler) or ("url", the URL); None when nobody does."""
    if state in job["own_states"]:
        return "own", job["own_states"][state]
    if job.get("state_url"):
        return "url", job["state_url"]
    if state in job["states"]:
        return "global", job["states"][state]
    return None


def missing_handler(provider: str, state: str) -> str:
    """The one-line reason for a state nobody handles, with the config key that would handle it."""
    return (f"provider state {state!r} of provider {provider!r} has no handler: add [contracts.pact.providers.{provider}.states.\"{state}\"] "
            f"(or [contracts.pact.states.\"{state}\"] for every provider), or give [services.{provider}] a state_url")


def change_state(job: Mapping[str, Any], state: str, action: str, params: Mapping[str, Any] | None, stores: dict[str, Any],
                 log: list[dict[str, Any]]) -> str | None:
    """Make one provider-state change with the job's handler for it; None when it succeeded, else why not.

    Every action's outcome is appended to `log` (the run's `logs/states.log`); an action that fails stops
    the state's remaining actions.
    """
    found = handler_of(job, state)
    if found is None:
        return missing_handler(job["provider"], state) if action == "setup" else None
    change = {"state": state, "params": dict(params or {}), "action": action, "provider": job["provider"], "consumer": job.get("consumer")}
    source, handler = found
    steps = [("state_url", handler)] if source == "url" else [(source, step) for step in handler.get(action) or []]
    from interlock.contracts.actions import ActionFailed, run_action, state_change

    for index, (origin, step) in enumerate(steps, 1):
        entry = {**change, "handler": origin, "step": index, "of": len(steps), "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        try:
            output = state_change(step, change) if origin == "state_url" else run_action(step, stores, state=change)
        except Exception as exc:  # noqa: BLE001 - any failure fails the interactions that need the state, with this reason
            reason = str(exc) if isinstance(exc, ActionFailed) else f"{type(exc).__name__}: {exc}"
            log.append({**entry, "ok": False, "output": reason})
            return f"provider state {state!r} {action} failed: {reason}"
        log.append({**entry, "ok": True, "output": output})
    return None


class JobError(Exception):
    """The job cannot be verified as configured (no URL for the provider, a broker token that is not set)."""


def add_broker(verifier: Any, broker: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    """Add a Pact Broker source with selectors through pact-python's `broker_source(..., selector=True)` builder.

    Only the config decides: `use_env=False`, so stray PACT_BROKER_* variables do not change what is verified.
    """
    token = None
    if broker.get("token_env"):
        token = env.get(broker["token_env"])
        if not token:
            raise JobError(f"environment variable {broker['token_env']} (token_env of [contracts.pact.broker]) is not set")
    builder = verifier.broker_source(broker["url"], token=token, selector=True, use_env=False)
    for selector in broker.get("consumer_version_selectors") or []:
        builder.consumer_version(**selector)
    if broker.get("include_pending"):
        builder.include_pending()
    if broker.get("include_wip_since"):
        builder.include_wip_since(broker["include_wip_since"])
    if broker.get("provider_branch"):
        builder.provider_branch(broker["provider_branch"])
    if broker.get("provider_tags"):
        builder.provider_tags(*broker["provider_tags"])
    builder.build()
    if broker.get("publish_results"):
        verifier.set_publish_options(version=broker["provider_version"], branch=broker.get("provider_branch"))
    return verifier


def add_filter(verifier: Any, only: Mapping[str, Any] | None) -> None:
    """Verify just the named interactions (an exact rerun): a description pattern, and the consumers for broker pacts."""
    if not only:
        return
    if only.get("description") or only.get("state"):
        verifier.filter(description=only.get("description"), state=only.get("state"))
    if only.get("consumers"):
        verifier.filter_consumers(*only["consumers"])


def kept_sources(job: Mapping[str, Any], folder: Path) -> list[str]:
    """The job's pact files, each narrowed to the interactions `keep` names by index (an exact rerun) as a copy in `folder`.

    The verifier's own filter selects by description and state patterns, which cannot tell apart two
    interactions that repeat both; a copy holding only the kept interactions can.
    """
    keep = job.get("keep") or {}
    sources = []
    for number, source in enumerate(job["sources"]):
        if source not in keep:
            sources.append(source)
            continue
        data = json.loads(Path(source).read_text("utf-8"))
        key = "interactions" if "interactions" in data else "messages"
        data[key] = [item for index, item in enumerate(data[key]) if index in set(keep[source])]
        copy = folder / f"{number}-{Path(source).name}"
        copy.write_text(json.dumps(data), "utf-8")
        sources.append(str(copy))
    return sources


def verify(job: dict[str, Any]) -> dict[str, Any]:
    """Verify the job's pacts against the provider; return results, output and timing."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="interlock-pact-kept-") as folder:
        return _verify(job, Path(folder))


def _verify(job: dict[str, Any], folder: Path) -> dict[str, Any]:
    os.environ["PACT_DO_NOT_TRACK"] = "true"
    from pact.verifier import Verifier

    stores = job["stores"]
    state_failures: dict[str, str] = {}
    state_log: list[dict[str, Any]] = []
    message_failures: dict[str, dict[str, str]] = {}
    if job.get("needs_states", True) or job.get("messages"):
        # Imported before the verifier starts: a first state change that spends seconds importing could
        # overrun the verifier's wait for the state handler and fail its interaction.
        import interlock.contracts.actions  # noqa: F401

    def state_handler(state: str, action: str, parameters: dict[str, Any] | None) -> None:
        # Never raise here: the verifier retries a failed state change with backoff for about two
        # minutes. The failure is recorded instead, and fails every interaction that needs the state.
        if state == "":
            return  # pact's generic per-interaction hook, called for interactions without a state
        failure = change_state(job, state, action, parameters, stores, state_log)
        if failure and state not in state_failures:
            state_failures[state] = failure

    capturing = InFlight()
    start = time.perf_counter()
    verifier = Verifier(job.get("pact_provider") or job["provider"], host="127.0.0.1")
    try:
        transports = 0
        if job["kind"] in ("http", "broker") and job.get("url"):
            verifier.add_transport(url=job["url"])
            transports += 1
        if job["kind"] in ("message", "broker") and job.get("messages"):
            def message(name: str, metadata: Any) -> Message:
                with capturing:
                    try:
                        return _message(job, name)
                    except Exception as exc:
                        message_failures[name] = capture_failure(exc)
                        raise  # the verifier fails the interaction; the record shows why, not the handler's error page

            verifier.message_handler(message)
            transports += 1
        if not transports:
            raise JobError(f"provider {job['provider']!r} has no URL in this environment (and no message source): nothing to verify against")
        if job.get("needs_states", True):
            verifier.state_handler(state_handler, teardown=True)
        verifier.set_request_timeout(request_timeout_ms(job))
        if job.get("traceparent"):  # the job's trace (interlock's OTLP receiver runs): every request to the provider carries it
            verifier.add_custom_header("traceparent", job["traceparent"])
        verifier.set_coloured_output(enabled=False)
        if job.get("headers_missing"):
            raise JobError(f"[contracts.pact.providers.{job['provider']}] headers take {', '.join(job['headers_missing'])}, not set in this "
                           "environment (its `vars` or the process environment): nothing was verified")
        if job.get("headers"):
            verifier.add_custom_headers(job["headers"])  # set on every request, replacing the pact's own ([contracts.pact.providers.P] headers)
        verifier.set_error_on_empty_pact(enabled=True)
        add_filter(verifier, job.get("filter"))
        if job.get("broker"):
            add_broker(verifier, job["broker"], os.environ)
        for source in kept_sources(job, folder):
            verifier.add_source(source)
    except (JobError, ValueError, TypeError) as exc:
        return {"results": {}, "output": "", "error": str(exc), "duration_ms": (time.perf_counter() - start) * 1000, "state_failures": {}}
    start = time.perf_counter()
    error = None
    try:
        verifier.verify()
    except RuntimeError as exc:
        error = str(exc)
    duration_ms = (time.perf_counter() - start) * 1000
    capturing.wait_idle(message_wait_s(job))  # a capture the verifier stopped waiting for still says why
    try:
        results = verifier.results
    except Exception as exc:  # noqa: BLE001 - no results at all is reported as an error, not a pass
        results, error = {}, f"{error or ''} no results: {exc}".strip()
    return {"results": results, "output": verifier.output(strip_ansi=True), "error": error, "duration_ms": duration_ms, "state_failures": state_failures,
            "message_failures": message_failures, "state_log": state_log}


TRIGGER_ALLOWANCE_S = 15.0
"""What a message's trigger and broker may take besides the capture's own timeout: an HTTP trigger's 10 s
plus the broker's silence slack, so the verifier waits for a capture's own verdict instead of timing out first."""


def message_wait_s(job: Mapping[str, Any]) -> float:
    """The longest one of the job's message captures may take: its timeout plus the trigger allowance (0 without messages)."""
    timeouts = [float(m.get("timeout") or 0) for m in (job.get("messages") or {}).values()]
    return max(timeouts) + TRIGGER_ALLOWANCE_S if timeouts else 0.0


def request_timeout_ms(job: Mapping[str, Any]) -> int:
    """pact's request timeout for the job: the configured one, raised above the longest message capture, so a
    missing message reads as the capture's "no message within N s", never as the verifier's "error sending request"."""
    return max(int(job["request_timeout_ms"]), int(message_wait_s(job) * 1000))


class InFlight:
    """Message captures still running: the verifier may give up on one, its verdict is still waited for."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = threading.Condition()

    def __enter__(self) -> None:
        with self._idle:
            self._count += 1

    def __exit__(self, *_: object) -> None:
        with self._idle:
            self._count -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> None:
        """Until no capture runs, at most `timeout` seconds."""
        with self._idle:
            self._idle.wait_for(lambda: self._count == 0, timeout=timeout)


def capture_failure(exc: Exception) -> dict[str, str]:
    """Why a provider's message could not be captured, as the interaction's verdict.

    pact-python answers a raising message handler with an HTML error page, which
    the verifier reports as a content-type mismatch; the capture's own one-line
    reason (no message in time, the broker hung up, the trigger failed) is kept here.
    """
    from interlock.checks import describe
    from interlock.brokers.base import CaptureFailed, NoMessage
    from interlock.contracts.actions import ActionFailed
    from interlock.statuses import ContractStatus

    if isinstance(exc, NoMessage):
        return {"status": ContractStatus.FAIL, "type": "NoMessage", "message": str(exc)}
    if isinstance(exc, (ActionFailed, CaptureFailed)):
        return {"status": ContractStatus.ERROR, "type": "CaptureFailed", "message": str(exc)}
    return {"status": ContractStatus.ERROR, "type": "error", "message": describe(exc)}


def _message(job: dict[str, Any], name: str) -> Message:
    if name not in job["messages"]:
        raise KeyError(f"message {name!r} has no entry in [contracts.pact.messages] of interlock.toml: say how the provider produces it")
    from interlock.contracts.actions import capture

    return capture(job["messages"][name], job["stores"], job.get("traceparent"))


def _write(outcome: dict[str, Any], path: str) -> None:
    tmp = Path(path + ".tmp")
    tmp.write_text(json.dumps(outcome, default=str), "utf-8")
    os.replace(tmp, path)


def _set_env(base: Mapping[str, str | None], extra: Mapping[str, str]) -> None:
    """The process environment of one job: the worker's own, with this job's variables (TLS roots) on top."""
    for name in set(base) | set(extra):
        value = extra.get(name, base.get(name))
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def serve() -> int:
    """Verify jobs as they come on stdin, each with fds 1 and 2 on its own log; `done` lines on the original stdout."""
    control = os.fdopen(os.dup(1), "w", buffering=1)
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)
    base: dict[str, str | None] = {name: os.environ.get(name) for name in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        _set_env(base, request.get("env") or {})
        start = time.perf_counter()
        with open(request["log"], "ab") as log:
            sys.stdout.flush()
            sys.stderr.flush()
            saved = os.dup(2)
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                outcome = verify(json.loads(Path(request["job"]).read_text("utf-8")))
            except Exception as exc:  # noqa: BLE001 - the job fails with the reason; the worker serves the next one
                outcome = {"results": {}, "output": "", "error": f"the verifier worker failed: {type(exc).__name__}: {exc}",
                           "duration_ms": (time.perf_counter() - start) * 1000, "state_failures": {}}
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(quiet, 1)
                os.dup2(saved, 2)
                os.close(saved)
        _write(outcome, request["out"])
        control.write("done\n")
    return 0


def main(argv: list[str]) -> int:
    if argv[1:] == ["--serve"]:
        return serve()
    _write(verify(json.loads(Path(argv[1]).read_text("utf-8"))), argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
