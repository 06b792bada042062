"""Provider-state actions, and the pact worker's message capture from the real broker.

Setup and teardown steps (SQL on a store, an HTTP call, a command) put the
provider into the state an interaction assumes; a step that fails raises, so
the interaction fails with the step's error instead of being skipped.

A pact message is captured from the real broker through its kind's capture
(`interlock.brokers.capture_messages`): interlock subscribes first, then
performs the trigger action, then takes what the producer published.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import TYPE_CHECKING, Any

import httpx
import sqlalchemy

from interlock.brokers import capture_messages
from interlock.brokers.base import produced_type
from interlock.checks import describe
from interlock.children import die_with_interlock
from interlock.dburl import open_engine
from interlock.probes import connect_failure

if TYPE_CHECKING:
    from pact.types import Message


class ActionFailed(Exception):
    """A provider-state or trigger step did not succeed."""


def state_inputs(state: dict[str, Any] | None) -> dict[str, str]:
    """The INTERLOCK_* variables a command action of a provider state gets (empty outside a state change)."""
    if state is None:
        return {}
    return {"INTERLOCK_STATE": state["state"], "INTERLOCK_STATE_ACTION": state["action"], "INTERLOCK_PROVIDER": state["provider"],
            "INTERLOCK_CONSUMER": state.get("consumer") or "", "INTERLOCK_STATE_PARAMS": json.dumps(state.get("params") or {})}


def _excerpt(text: str, limit: int = 2000) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + f" ... ({len(text) - limit} more characters)"


def perform(action: dict[str, Any], stores: dict[str, dict[str, Any]], *, env: dict[str, str] | None = None, cwd: str | None = None,
            traceparent: str | None = None) -> None:
    """Run one setup/teardown/trigger action whose output nobody logs; raise ActionFailed with a one-line reason."""
    run_action(action, stores, env=env, cwd=cwd, traceparent=traceparent)


def run_action(action: dict[str, Any], stores: dict[str, dict[str, Any]], *, env: dict[str, str] | None = None, cwd: str | None = None,
               state: dict[str, Any] | None = None, traceparent: str | None = None) -> str:
    """Run one action; return what it printed or answered, raise ActionFailed with a one-line reason.

    `env` and `cwd` apply to a `command` action (default: this process's). `state` is the provider-state change
    being made (`state`, `params`, `action`, `provider`, `consumer`): a command gets it as JSON on stdin and in
    INTERLOCK_* variables, an HTTP call without `json` as its body, SQL its params as `:name` bind parameters.
    `traceparent` (a pact job's trace, for a message trigger) goes with an HTTP call as the W3C header and to a
    command as TRACEPARENT, OpenTelemetry's variable for a trace context handed to a process; SQL carries none.
    """
    if action.get("sql") is not None:
        store = stores[action["store"]]
        params = (state or {}).get("params") or {}
        try:
            engine, _ = open_engine(store["kind"], store["url"], existing=False)
        except ValueError as exc:
            raise ActionFailed(f"SQL failed on store {action['store']!r}: {exc}") from None
        done = 0
        try:
            with engine.begin() as connection:
                for statement in (s for s in action["sql"].split(";") if s.strip()):
                    clause = sqlalchemy.text(statement)
                    binds = {name: params[name] for name in clause.compile().params if name in params}
                    done += max(connection.execute(clause, binds).rowcount, 0)
        except sqlalchemy.exc.SQLAlchemyError as exc:
            cause = getattr(exc, "orig", None) or exc
            if isinstance(exc, sqlalchemy.exc.StatementError) and "bind parameter" in str(exc):
                raise ActionFailed(f"SQL on store {action['store']!r} uses a bind parameter the state's params do not give: "
                                   f"{str(cause).splitlines()[0]}") from None
            raise ActionFailed("SQL failed on store " + connect_failure(repr(action["store"]), cause, store["url"], "database")) from None
        finally:
            engine.dispose()
        return f"SQL on store {action['store']!r}: {done} row(s) changed"
    if action.get("http") is not None:
        call = action["http"]
        body = call.get("json") if call.get("json") is not None else state
        try:
            response = httpx.request(call["method"], call["url"], json=body, timeout=10.0,
                                     headers={"traceparent": traceparent} if traceparent else None)
        except httpx.HTTPError as exc:
            raise ActionFailed(f"{call['method']} {call['url']} failed: {type(exc).__name__}: {exc}") from None
        if response.status_code not in call["expect_status"]:
            raise ActionFailed(f"{call['method']} {call['url']} answered {response.status_code}: {response.text[:200]}")
        return f"{call['method']} {call['url']} answered {response.status_code}: {_excerpt(response.text, 500)}"
    if action.get("command") is not None:
        command = action["command"]
        if state is not None or traceparent:
            env = {**(env if env is not None else os.environ), **state_inputs(state), **({"TRACEPARENT": traceparent} if traceparent else {})}
        try:
            done_run = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, cwd=cwd,
                                      input=json.dumps(state) if state is not None else None, stdin=None if state is not None else subprocess.DEVNULL,
                                      preexec_fn=die_with_interlock())
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ActionFailed(f"command {' '.join(command)} could not run: {describe(exc)}") from None
        if done_run.returncode != 0:
            raise ActionFailed(f"command {' '.join(command)} exited {done_run.returncode}: {(done_run.stderr or done_run.stdout).strip()[-300:]}")
        output = "\n".join(part for part in (_excerpt(done_run.stdout), _excerpt(done_run.stderr)) if part)
        return f"command {' '.join(command)} exited 0" + (f":\n{output}" if output else "")
    return ""


def state_change(url: str, state: dict[str, Any]) -> str:
    """POST a provider-state change to the provider's own endpoint, as Pact's convention does; what it answered.

    The body is exactly `{"state", "params", "action"}`; any 2xx answer is success.
    """
    body = {"state": state["state"], "params": state.get("params") or {}, "action": state["action"]}
    try:
        response = httpx.post(url, json=body, timeout=10.0)
    except httpx.HTTPError as exc:
        raise ActionFailed(f"POST {url} (state_url) failed: {type(exc).__name__}: {exc}") from None
    if not 200 <= response.status_code < 300:
        raise ActionFailed(f"POST {url} (state_url) answered {response.status_code}: {response.text[:200]}")
    return f"POST {url} answered {response.status_code}: {_excerpt(response.text, 500)}"


def capture(source: dict[str, Any], stores: dict[str, dict[str, Any]], traceparent: str | None = None) -> Message:
    """Trigger the provider and return the message it really published, as pact-python wants it.

    The message goes to the verifier as produced: its bytes, its headers and protocol properties as the
    metadata, and its own content type (assumed from the bytes only where the protocol carries none),
    so a text, XML or binary message pact is judged against what the producer really sent. The trigger
    carries the job's `traceparent`: what the provider does to produce the message joins the job's trace.
    """
    found = capture_messages(source["broker"], source["topic"], lambda: perform(source["trigger"], stores, traceparent=traceparent),
                             float(source["timeout"]))
    first = found[0]
    content_type = produced_type(first)
    return {"contents": first.body, "metadata": {**first.properties, **first.headers, "contentType": content_type}, "content_type": content_type}
