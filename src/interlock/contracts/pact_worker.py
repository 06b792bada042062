"""One provider's pacts, verified by pact-python's Rust verifier in a process of its own.

Run as `python -m interlock.contracts.pact_worker JOB.json RESULT.json`. The
verifier prints its report straight to file descriptor 1, so each provider gets
its own process whose output goes to a log artifact; the verdict is read from
`Verifier.results`, never from the exit status alone.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from interlock.contracts.actions import capture, perform


def verify(job: dict[str, Any]) -> dict[str, Any]:
    """Verify the job's pact files against the provider; return results, output and timing."""
    os.environ["PACT_DO_NOT_TRACK"] = "true"
    from pact.verifier import Verifier

    stores, states = job["stores"], job["states"]

    state_failures: dict[str, str] = {}

    def state_handler(state: str, action: str, parameters: dict[str, Any] | None) -> None:
        # Never raise here: the verifier retries a failed state change with backoff for about two
        # minutes. The failure is recorded instead, and fails every interaction that needs the state.
        if state == "":
            return  # pact's generic per-interaction hook, called for interactions without a state
        if state not in states:
            state_failures[state] = f"provider state {state!r} has no entry in [contracts.pact.states] of interlock.toml"
            return
        step = states[state].get(action)
        try:
            if step:
                perform(step, stores)
        except Exception as exc:  # noqa: BLE001 - any setup error fails the interaction with that error
            state_failures[state] = f"provider state {state!r} {action} failed: {exc}"

    verifier = Verifier(job["provider"], host="127.0.0.1")
    if job["kind"] == "message":
        verifier.message_handler(lambda name, metadata: _message(job, name))
    else:
        verifier.add_transport(url=job["url"])
    verifier.state_handler(state_handler, teardown=True)
    verifier.set_request_timeout(job["request_timeout_ms"])
    verifier.set_coloured_output(enabled=False)
    verifier.set_error_on_empty_pact(enabled=True)
    for source in job["sources"]:
        verifier.add_source(source)
    start = time.perf_counter()
    error = None
    try:
        verifier.verify()
    except RuntimeError as exc:
        error = str(exc)
    duration_ms = (time.perf_counter() - start) * 1000
    try:
        results = verifier.results
    except Exception as exc:  # noqa: BLE001 - no results at all is reported as an error, not a pass
        results, error = {}, f"{error or ''} no results: {exc}".strip()
    return {"results": results, "output": verifier.output(strip_ansi=True), "error": error, "duration_ms": duration_ms, "state_failures": state_failures}


def _message(job: dict[str, Any], name: str) -> dict[str, Any]:
    if name not in job["messages"]:
        raise KeyError(f"message {name!r} has no entry in [contracts.pact.messages] of interlock.toml: say how the provider produces it")
    return capture(job["messages"][name], job["stores"])


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[1]).read_text("utf-8"))
    outcome = verify(job)
    tmp = Path(argv[2] + ".tmp")
    tmp.write_text(json.dumps(outcome, default=str), "utf-8")
    os.replace(tmp, argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
