"""A small repository as a team has it before interlock: two Python providers, consumer pacts with parameterised states,
a message pact, a docker-compose.yml, its own tests, no OpenAPI (what `interlock init` reads in unit and e2e tests)."""

from __future__ import annotations

import json
from pathlib import Path

#: A stdlib HTTP provider: /health, its resources, and its own provider-state-change endpoint.
PROVIDER = '''"""{name}: a tiny HTTP provider."""
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ITEMS = {{}}


class Handler(BaseHTTPRequestHandler):
    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            return self._send(200, {{"status": "ok"}})
        key = self.path.rsplit("/", 1)[-1]
        return self._send(200, ITEMS[key]) if key in ITEMS else self._send(404, {{"error": "not found"}})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{{}}")
        if self.path == "/_pact/provider-states":
            params = body.get("params") or {{}}
            key = str(params.get("id"))
            if body.get("action", "setup") == "setup" and not body.get("state", "").startswith("no "):
                ITEMS[key] = params
            else:
                ITEMS.pop(key, None)
            return self._send(200, {{}})
        return self._send(201, body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
'''

COMPOSE = '''services:
  users:
    build: ./users
    command: python app.py
    ports: ["8001:8000"]
    environment:
      PORT: "8000"
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost:8000/health"]
  orders:
    build:
      context: ./orders
    command: ["python", "app.py"]
    ports:
      - "8002:8000"
    environment:
      - PORT=8000
      - USERS_URL=http://users:8000
      - REDIS_URL=redis://redis:6379/0
    depends_on: [users, redis]
    healthcheck:
      test: curl -f http://localhost:8000/health || exit 1
  redis:
    image: redis:7-alpine
    ports: ["6379:6379"]
'''


def _pact(consumer: str, provider: str, interactions: list[dict], key: str = "interactions") -> str:
    return json.dumps({"consumer": {"name": consumer}, "provider": {"name": provider}, key: interactions,
                       "metadata": {"pactSpecification": {"version": "3.0.0"}}}, indent=2)


def make_repository(root: Path) -> Path:
    """Write the repository under `root` and return it."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("users", "orders"):
        (root / name).mkdir()
        (root / name / "app.py").write_text(PROVIDER.format(name=name), "utf-8")
    (root / "docker-compose.yml").write_text(COMPOSE, "utf-8")
    (root / "pacts").mkdir()
    user = {"description": "a request for user 42", "providerStates": [{"name": "a user exists", "params": {"id": 42, "name": "Ada"}}],
            "request": {"method": "GET", "path": "/users/42"}, "response": {"status": 200, "body": {"id": 42, "name": "Ada"}}}
    missing = {"description": "a request for a missing user", "providerStates": [{"name": "no user exists", "params": {"id": 7}}],
               "request": {"method": "GET", "path": "/users/7"}, "response": {"status": 404}}
    (root / "pacts" / "web-users.json").write_text(_pact("web", "users", [user, missing]), "utf-8")
    order = {"description": "an order for user 42", "providerStates": [{"name": "a user exists", "params": {"id": 42}}],
             "request": {"method": "POST", "path": "/orders", "body": {"user": 42}}, "response": {"status": 201}}
    (root / "pacts" / "users-orders.json").write_text(_pact("users", "orders", [order]), "utf-8")
    event = {"description": "an order placed event", "contents": {"order": 1}, "metadata": {"contentType": "application/json"}}
    (root / "pacts" / "mailer-orders.json").write_text(_pact("mailer", "orders", [event], key="messages"), "utf-8")
    (root / "tests").mkdir()
    (root / "tests" / "test_users.py").write_text(
        'import pytest\n\n\n@pytest.mark.integration\ndef test_two_plus_two():\n    assert 2 + 2 == 4\n', "utf-8")
    (root / "pytest.ini").write_text("[pytest]\nmarkers =\n    integration: talks to the running services\n", "utf-8")
    (root / ".gitignore").write_text("__pycache__/\n", "utf-8")
    return root
