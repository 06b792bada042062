"""What many tests share: the head of a minimal interlock.toml, the result of a CLI call, ports for servers they start."""

from __future__ import annotations

import itertools
import json
import os
import random
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from interlock.ports import bindable

#: The three inputs every config must pin (the protocol's prerequisites from protocols 3, 6 and 7).
PREREQUISITES = """[prerequisites.feature_list]
path = "features.json"
version = "1"
[prerequisites.architecture_contracts]
path = "contracts"
version = "1"
[prerequisites.environment_baseline]
path = "baseline.toml"
version = "1"
"""


def config_head(name: str = "t", version: str | None = None) -> str:
    """`[project]` and the prerequisites: what a config needs before its services and environments."""
    pinned = f'version = "{version}"\n' if version else ""
    return f'\n[project]\nname = "{name}"\n{pinned}\n{PREREQUISITES}\n'


def orders_on_a_broker(document: str, kind: str, url: str) -> str:
    """A config (head included) whose one service, orders, publishes what AsyncAPI `document` says on broker `bus`."""
    return config_head("t") + f"""
[services.orders]
asyncapi = "{document}"
[environments.test.services.orders]
url = "http://127.0.0.1:9"
[environments.test.brokers.bus]
kind = "{kind}"
url = {json.dumps(url)}
"""


@dataclass
class Result:
    """What one `interlock` subprocess gave back."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


#: Ports handed out per xdist worker, each worker its own block, all below the kernel's ephemeral range.
PORT_BLOCK = 1500
_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_EPHEMERAL_LOW = int(_RANGE.read_text().split()[0]) if _RANGE.exists() else 32768
_worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
_low = 20000 + (_worker % 8) * PORT_BLOCK
_next = itertools.count(random.randrange(PORT_BLOCK))


def free_ports(count: int) -> list[int]:
    """Ports for servers a test starts later (services, a throwaway redis-server).

    A port from bind(0) is ephemeral: before the server binds it, an outgoing
    connection (to PostgreSQL, to another service) may take it as its source
    port, or the other xdist worker may be handed it too, and the server then
    fails to start or another one answers in its place. So each worker takes
    ports from its own block below the ephemeral range, in turn, skipping any
    in use; bind(0) only where that range leaves no room.
    """
    if _low + PORT_BLOCK > _EPHEMERAL_LOW:
        sockets = [socket.socket() for _ in range(count)]
        try:
            for sock in sockets:
                sock.bind(("127.0.0.1", 0))
            return [sock.getsockname()[1] for sock in sockets]
        finally:
            for sock in sockets:
                sock.close()
    found: list[int] = []
    for _ in range(PORT_BLOCK):
        port = _low + next(_next) % PORT_BLOCK
        if port not in found and bindable(port):
            found.append(port)
            if len(found) == count:
                return found
    raise RuntimeError(f"no {count} free ports in 127.0.0.1:{_low}-{_low + PORT_BLOCK - 1}")


def whole_suite_selection(nodeids: list[str], marker: str = "integration", critical: tuple[str, ...] = ()) -> dict[str, Any]:
    """A test execution report's `interlock.pytest_selection` for a run of the whole suite, for reports built by hand."""
    return {"command": ["-m", marker, "tests"], "environment": {}, "ini": {"path": None, "addopts": []}, "suite_marker": marker,
            "markexpr": marker, "keyword": "", "targets": ["tests"],
            "counts": {"collected": len(nodeids), "suite": len(nodeids), "selected": len(nodeids), "deselected": 0, "ran": len(nodeids)},
            "not_selected": {"count": 0, "shown": []}, "critical": list(critical), "critical_not_selected": [], "narrowing": []}


class TraceRecorder:
    """A loopback HTTP server that records each request's `traceparent` (None when it has none) and answers what
    `answer(method, path)` gives as (status, JSON body or None); `close()` stops it."""

    def __init__(self, answer: Callable[[str, str], tuple[int, Any]]) -> None:
        self.seen: list[str | None] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.seen.append(self.headers.get("traceparent"))
                status, body = answer(self.command, self.path)
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
