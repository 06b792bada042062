"""Provider-state actions, and the pact worker's message capture from the real broker.

Setup and teardown steps (SQL on a store, an HTTP call, a command) put the
provider into the state an interaction assumes; a step that fails raises, so
the interaction fails with the step's error instead of being skipped.

A pact message is captured from the real broker through its kind's capture
(`interlock.brokers.capture_messages`): interlock subscribes first, then
performs the trigger action, then takes what the producer published.
"""

from __future__ import annotations

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


def perform(action: dict[str, Any], stores: dict[str, dict[str, Any]], *, env: dict[str, str] | None = None, cwd: str | None = None) -> None:
    """Run one setup/teardown/trigger action; raise ActionFailed with a one-line reason.

    `env` and `cwd` apply to a `command` action (default: this process's).
    """
    if action.get("sql") is not None:
        store = stores[action["store"]]
        try:
            engine, _ = open_engine(store["kind"], store["url"], existing=False)
        except ValueError as exc:
            raise ActionFailed(f"SQL failed on store {action['store']!r}: {exc}") from None
        try:
            with engine.begin() as connection:
                for statement in (s for s in action["sql"].split(";") if s.strip()):
                    connection.execute(sqlalchemy.text(statement))
        except sqlalchemy.exc.SQLAlchemyError as exc:
            cause = getattr(exc, "orig", None) or exc
            raise ActionFailed("SQL failed on store " + connect_failure(repr(action["store"]), cause, store["url"], "database")) from None
        finally:
            engine.dispose()
    elif action.get("http") is not None:
        call = action["http"]
        try:
            response = httpx.request(call["method"], call["url"], json=call.get("json"), timeout=10.0)
        except httpx.HTTPError as exc:
            raise ActionFailed(f"{call['method']} {call['url']} failed: {type(exc).__name__}: {exc}") from None
        if response.status_code not in call["expect_status"]:
            raise ActionFailed(f"{call['method']} {call['url']} answered {response.status_code}: {response.text[:200]}")
    elif action.get("command") is not None:
        command = action["command"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                  preexec_fn=die_with_interlock())
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ActionFailed(f"command {' '.join(command)} could not run: {describe(exc)}") from None
        if done.returncode != 0:
            raise ActionFailed(f"command {' '.join(command)} exited {done.returncode}: {(done.stderr or done.stdout).strip()[-300:]}")


def capture(source: dict[str, Any], stores: dict[str, dict[str, Any]]) -> Message:
    """Trigger the provider and return the message it really published, as pact-python wants it.

    The message goes to the verifier as produced: its bytes, its headers and protocol properties as the
    metadata, and its own content type (assumed from the bytes only where the protocol carries none),
    so a text, XML or binary message pact is judged against what the producer really sent.
    """
    found = capture_messages(source["broker"], source["topic"], lambda: perform(source["trigger"], stores), float(source["timeout"]))
    first = found[0]
    content_type = produced_type(first)
    return {"contents": first.body, "metadata": {**first.properties, **first.headers, "contentType": content_type}, "content_type": content_type}
