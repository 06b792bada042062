"""A pact job's trace reaches what its message trigger does (issue 16): an HTTP trigger sends the job's W3C `traceparent`,
a command trigger gets it as TRACEPARENT; without a trace nothing is added, and provider-state actions never carry one."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from interlock.contracts.actions import perform, run_action

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class Orders:
    """POST /orders answers 201 and records the request's traceparent (None when it has none)."""

    def __init__(self) -> None:
        self.seen: list[str | None] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.seen.append(self.headers.get("traceparent"))
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/orders"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def orders() -> Iterator[Orders]:
    server = Orders()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def http_trigger(url: str) -> dict[str, Any]:
    return {"http": {"method": "POST", "url": url, "json": {"product_id": 1}, "expect_status": [201]}}


def test_an_http_trigger_sends_the_jobs_traceparent(orders: Orders) -> None:
    perform(http_trigger(orders.url), {}, traceparent=TRACEPARENT)
    assert orders.seen == [TRACEPARENT]


def test_without_a_trace_an_http_trigger_sends_no_traceparent(orders: Orders) -> None:
    perform(http_trigger(orders.url), {})
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


def test_a_provider_state_action_carries_no_trace(orders: Orders, monkeypatch: pytest.MonkeyPatch) -> None:
    """State set-up is not the interaction verified: the worker passes no traceparent, and a state's own inputs add none."""
    monkeypatch.delenv("TRACEPARENT", raising=False)
    state = {"state": "product 1 exists", "params": {}, "action": "setup", "provider": "orders", "consumer": "web"}
    run_action(http_trigger(orders.url), {}, state=state)
    assert orders.seen == [None]
    output = run_action({"command": PRINT_TRACEPARENT}, {}, state=state)
    assert json.loads(output.split(":\n", 1)[1]) is None
