"""A pact job's trace reaches what its message trigger does (issue 16): an HTTP trigger sends the job's W3C `traceparent`,
a command trigger gets it as TRACEPARENT; without a trace nothing is added, and provider-state actions never carry one."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from interlock.contracts.actions import perform, run_action
from tests.support import TraceRecorder

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def orders() -> Iterator[TraceRecorder]:
    """POST /orders answers 201."""
    server = TraceRecorder(lambda method, path: (201, None))
    yield server
    server.close()


def http_trigger(url: str) -> dict[str, Any]:
    return {"http": {"method": "POST", "url": url, "json": {"product_id": 1}, "expect_status": [201]}}


def test_an_http_trigger_sends_the_jobs_traceparent(orders: TraceRecorder) -> None:
    perform(http_trigger(orders.base + "/orders"), {}, traceparent=TRACEPARENT)
    assert orders.seen == [TRACEPARENT]


def test_without_a_trace_an_http_trigger_sends_no_traceparent(orders: TraceRecorder) -> None:
    perform(http_trigger(orders.base + "/orders"), {})
    assert orders.seen == [None]


PRINT_TRACEPARENT = [sys.executable, "-c", "import json, os; print(json.dumps(os.environ.get('TRACEPARENT')))"]


def test_a_command_trigger_gets_the_jobs_traceparent_as_TRACEPARENT(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACEPARENT", raising=False)
    output = run_action({"command": PRINT_TRACEPARENT}, {}, traceparent=TRACEPARENT)
    assert json.loads(output.split(":\n", 1)[1]) == TRACEPARENT
    output = run_action({"command": PRINT_TRACEPARENT}, {}, env={"PATH": "/usr/bin:/bin"}, traceparent=TRACEPARENT)  # its own env, and the trace
    assert json.loads(output.split(":\n", 1)[1]) == TRACEPARENT
    output = run_action({"command": PRINT_TRACEPARENT}, {})
    assert json.loads(output.split(":\n", 1)[1]) is None


def test_a_provider_state_action_carries_no_trace(orders: TraceRecorder, monkeypatch: pytest.MonkeyPatch) -> None:
    """State set-up is not the interaction verified: the worker passes no traceparent, and a state's own inputs add none."""
    monkeypatch.delenv("TRACEPARENT", raising=False)
    state = {"state": "product 1 exists", "params": {}, "action": "setup", "provider": "orders", "consumer": "web"}
    run_action(http_trigger(orders.base + "/orders"), {}, state=state)
    assert orders.seen == [None]
    output = run_action({"command": PRINT_TRACEPARENT}, {}, state=state)
    assert json.loads(output.split(":\n", 1)[1]) is None
