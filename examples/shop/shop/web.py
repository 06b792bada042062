"""HTTP plumbing shared by the three services: JSON routes, ``/health``,
``/metrics``, one log line per request and a clean stop on SIGTERM.

Each request but ``/health`` and ``/metrics`` is an OpenTelemetry server span
(``shop.telemetry``), child of the caller's ``traceparent``.

The standard library's ``ThreadingHTTPServer`` is enough for a demo that must
run with nothing but the venv, and it serves the test suite and the Pact
verifier concurrently.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from shop.metrics import Metrics
from shop.telemetry import end_server_span, server_span

HTTP_REQUESTS = "shop_http_requests_total"
MAX_BODY_BYTES = 1 << 20
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class Request:
    """What a route handler sees: path parameters, query (first values) and raw body."""

    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON; raises ``ValueError`` when it is not."""
        return json.loads(self.body or b"null")


Handler = Callable[[Request], tuple[int, Any]]
"""A route handler returns (status, body): ``str`` is sent as text, anything else as JSON."""


class App:
    """A service's routes, metrics and health check."""

    def __init__(self, service: str, health: Callable[[], str | None]) -> None:
        self.service = service
        self.log = logging.getLogger(service)
        self.metrics = Metrics()
        self.metrics.declare(HTTP_REQUESTS, "counter", "HTTP requests served, by route and status.")
        self._health = health
        self._routes: list[tuple[str, re.Pattern[str], str, Handler]] = []
        self.route("GET", "/health", self._serve_health)
        self.route("GET", "/metrics", lambda _req: (200, self.metrics.render()))

    def route(self, method: str, template: str, handler: Handler) -> None:
        """Serve ``method template`` (``{name}`` segments become ``Request.params``)."""
        pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$")
        self._routes.append((method, pattern, template, handler))

    def dispatch(self, method: str, target: str, body: bytes) -> tuple[int, Any, str]:
        """Run the matching handler; returns (status, body, route template)."""
        url = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        path_known = False
        for route_method, pattern, template, handler in self._routes:
            match = pattern.match(url.path)
            if not match:
                continue
            path_known = True
            if route_method != method:
                continue
            request = Request(method, url.path, match.groupdict(), query, body)
            try:
                status, payload = handler(request)
            except Exception:
                self.log.exception("unhandled error in %s %s", method, url.path)
                return 500, {"error": "internal error"}, template
            return status, payload, template
        if path_known:
            return 405, {"error": "method not allowed"}, "unmatched"
        return 404, {"error": "not found"}, "unmatched"

    def _serve_health(self, _request: Request) -> tuple[int, Any]:
        reason = self._health()
        if reason is None:
            return 200, {"status": "ok", "service": self.service}
        return 503, {"status": "unavailable", "service": self.service, "reason": reason}


def _handler_class(app: App) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = f"shop-{app.service}"
        sys_version = ""

        def _read_body(self) -> bytes | None:
            """The body, or None when it cannot be read safely (chunked, bad or huge length)."""
            if self.headers.get("Transfer-Encoding"):
                return None
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                return None
            if not 0 <= length <= MAX_BODY_BYTES:
                return None
            return self.rfile.read(length) if length else b""

        def _serve(self) -> None:
            started = time.perf_counter()
            with server_span(self.command, urlsplit(self.path).path, self.headers, self.server.server_address[1]) as span:
                body = self._read_body()
                if body is None:
                    self.close_connection = True
                    status, payload, template = 400, {"error": "send a Content-Length of at most 1 MiB"}, "unmatched"
                else:
                    status, payload, template = app.dispatch(self.command, self.path, body)
                end_server_span(span, self.command, template, status)
            if isinstance(payload, str):
                data, content_type = payload.encode(), METRICS_CONTENT_TYPE
            else:
                data, content_type = json.dumps(payload).encode(), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            labels = {"service": app.service, "method": self.command, "route": template, "status": str(status)}
            app.metrics.inc(HTTP_REQUESTS, labels)
            elapsed_ms = (time.perf_counter() - started) * 1000
            app.log.info("%s %s %d %.1fms", self.command, self.path, status, elapsed_ms)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            """Silenced: ``_serve`` writes the one line per request."""

    return _Handler


def setup_logging() -> None:
    """One line per event on stderr, UTC timestamps."""
    logging.Formatter.converter = time.gmtime
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s.%(msecs)03dZ %(name)s %(levelname)s %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the request line already says it all


def env_port(default: int) -> int:
    """The port from ``PORT``, else ``default``."""
    return int(os.environ.get("PORT") or default)


def stop_event() -> threading.Event:
    """An event set by SIGTERM or SIGINT, so the main thread can shut down in order."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def serve(app: App, port: int) -> ThreadingHTTPServer:
    """Start serving ``app`` on 127.0.0.1:``port`` in a background thread."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler_class(app))
    threading.Thread(target=server.serve_forever, name=f"{app.service}-http", daemon=True).start()
    app.log.info("listening on http://127.0.0.1:%d", port)
    return server


def shutdown(app: App, server: ThreadingHTTPServer) -> None:
    """Stop accepting requests and close the socket; log that we did."""
    server.shutdown()
    server.server_close()
    app.log.info("stopped")
