"""The HTTP plumbing both providers share: JSON routes, ``/health`` and the Pact provider-state endpoint.

Every provider answers ``POST /_pact/provider-states`` with the body Pact's
provider-state-change convention sends, ``{"state", "params", "action"}``:
the provider's own ``states`` table says what each state sets up or tears
down, with the state's parameters.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Route = Callable[[dict[str, str], Any], tuple[int, Any]]
State = Callable[[dict[str, Any], str], None]
STATE_PATH = "/_pact/provider-states"


class Provider:
    """One provider's routes and provider states; `serve` runs it on $PORT until SIGTERM."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.routes: list[tuple[str, re.Pattern[str], Route]] = []
        self.states: dict[str, State] = {}
        self.lock = threading.Lock()

    def route(self, method: str, template: str) -> Callable[[Route], Route]:
        pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$")

        def register(handler: Route) -> Route:
            self.routes.append((method, pattern, handler))
            return handler

        return register

    def state(self, name: str) -> Callable[[State], State]:
        def register(handler: State) -> State:
            self.states[name] = handler
            return handler

        return register

    def change_state(self, body: Any) -> tuple[int, Any]:
        """Pact's provider-state change: 400 for a body that is not one, 404 for a state this provider does not know."""
        if not isinstance(body, dict) or not isinstance(body.get("state"), str):
            return 400, {"error": 'expected {"state": ..., "params": {...}, "action": "setup" | "teardown"}'}
        handler = self.states.get(body["state"])
        if handler is None:
            return 404, {"error": f"{self.name} has no provider state {body['state']!r}"}
        with self.lock:
            handler(dict(body.get("params") or {}), str(body.get("action") or "setup"))
        return 200, {}

    def dispatch(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "GET" and path == "/health":
            return 200, {"status": "ok", "service": self.name}
        if method == "POST" and path == STATE_PATH:
            return self.change_state(body)
        for wanted, pattern, handler in self.routes:
            match = pattern.match(path)
            if match and wanted == method:
                with self.lock:
                    return handler(match.groupdict(), body)
        return 404, {"error": f"no route {method} {path}"}

    def serve(self) -> None:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    status, answer = 400, {"error": "the body is not JSON"}
                else:
                    status, answer = provider.dispatch(self.command, self.path.split("?", 1)[0], body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:
                sys.stderr.write(f"{provider.name}: {format % args}\n")

        server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8000"))), Handler)
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
        server.serve_forever()
        server.server_close()
