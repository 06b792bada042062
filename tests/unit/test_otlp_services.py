"""The receiver lives with the services (supervisor.Services): started before them, stopped after them, its endpoint
in every started service's OTEL_* variables (unless the service sets its own) and in the pytest child's environment."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from interlock import events as ev, runspec
from interlock.artifacts import OTLP_RECEIVER, OTLP_SPANS, ArtifactDir
from interlock.config import load
from interlock.context import RunContext
from interlock.execution import run_pytest
from interlock.otlp.spans import read_spans
from interlock.phases.plan import render
from interlock.render import ConsoleRenderer
from tests.support import config_head, free_ports

#: A service that writes its OTEL_* variables to a file, then serves HTTP on its port.
DUMP = """import http.server, json, os, sys
with open(sys.argv[2], "w") as out:
    json.dump({k: v for k, v in os.environ.items() if k.startswith("OTEL_")}, out)
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler).serve_forever()
"""

CONFIG = config_head() + """
%s
[services.web]
[services.legacy]
[environments.test.services.web]
command = ["{python}", "dump.py", "{port:web}", "web.json"]
port = "auto"
url = "http://127.0.0.1:{port:web}"
health = "{url:web}/"
start_timeout = 15
[environments.test.services.legacy]
command = ["{python}", "dump.py", "{port:legacy}", "legacy.json"]
port = "auto"
url = "http://127.0.0.1:{port:legacy}"
health = "{url:legacy}/"
start_timeout = 15
env = { OTEL_SERVICE_NAME = "legacy-custom", OTEL_SDK_DISABLED = "true" }
[environments.test.vars]
OTEL_METRIC_EXPORT_INTERVAL = "5000"
"""

SPAN = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "web"}}]},
                           "scopeSpans": [{"spans": [{"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
                                                      "name": "GET /", "kind": 2, "startTimeUnixNano": "1", "endTimeUnixNano": "2"}]}]}]}


def context(tmp_path: Path, observability: str = "", seen: list[ev.Event] | None = None) -> RunContext:
    (tmp_path / "dump.py").write_text(DUMP, "utf-8")
    (tmp_path / "interlock.toml").write_text(CONFIG % observability, "utf-8")
    emit = seen.append if seen is not None else (lambda event: None)
    return RunContext(runspec.build(load(tmp_path / "interlock.toml"), "test"), ArtifactDir(tmp_path / "art"), emit, lambda k: (False, "test"), "run1")


def dumped(tmp_path: Path, name: str) -> dict[str, str]:
    result: dict[str, str] = json.loads((tmp_path / f"{name}.json").read_text("utf-8"))
    return result


def refused(endpoint: str) -> bool:
    host, port = endpoint.removeprefix("http://").split(":")
    with socket.socket() as sock:
        return sock.connect_ex((host, int(port))) != 0


def test_started_services_report_to_the_receiver_and_it_stops_after_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.elsewhere:4318")  # inherited: interlock's receiver wins
    seen: list[ev.Event] = []
    ctx = context(tmp_path, seen=seen)
    try:
        checks = {c.id: c for c in ctx.services.start()}
        assert all(c.status == "pass" for c in checks.values()), {i: c.reason for i, c in checks.items()}
        endpoint = ctx.services.otlp_endpoint
        assert endpoint is not None and endpoint.startswith("http://127.0.0.1:")
        [started] = [e for e in seen if isinstance(e, ev.OtlpReceiverStarted)]
        assert (started.endpoint, started.forward, started.spans) == (endpoint, None, OTLP_SPANS)
        assert dumped(tmp_path, "web") == {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_SERVICE_NAME": "web",
            "OTEL_EXPORTER_OTLP_HEADERS": "x-interlock-service=web", "OTEL_TRACES_EXPORTER": "otlp", "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_METRIC_EXPORT_INTERVAL": "5000"}  # the environment's own variable wins over interlock's 1000
        legacy = dumped(tmp_path, "legacy")
        assert (legacy["OTEL_SERVICE_NAME"], legacy["OTEL_SDK_DISABLED"], legacy["OTEL_EXPORTER_OTLP_ENDPOINT"]) == ("legacy-custom", "true", endpoint)
        suite = ctx.suite_env()
        assert (suite["INTERLOCK_OTLP_ENDPOINT"], suite["OTEL_EXPORTER_OTLP_ENDPOINT"]) == (endpoint, endpoint)
        assert "INTERLOCK_OTLP_ENDPOINT" not in ctx.base_env()  # setup commands, probes and the baseline comparison see no change
        assert httpx.post(f"{endpoint}/v1/traces", json=SPAN).status_code == 200
    finally:
        ctx.services.stop()
    assert refused(endpoint) and ctx.services.otlp_endpoint is None and "INTERLOCK_OTLP_ENDPOINT" not in ctx.suite_env()
    assert [s["service"] for s in read_spans(ctx.artifacts.path(OTLP_SPANS))] == ["web"]
    assert json.loads(ctx.artifacts.path(OTLP_RECEIVER).read_text("utf-8"))["by_service"]["web"]["spans"] == 1
    stopped = [e.message for e in seen if isinstance(e, ev.Notice) and e.message.startswith("OTLP receiver stopped")]
    assert stopped == [f"OTLP receiver stopped: 1 span(s) kept (by sender: web 1); see {OTLP_RECEIVER}"]


def test_the_pytest_child_gets_the_endpoint_while_the_receiver_runs(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    show = [sys.executable, "-c", "import os; print('endpoint=' + os.environ.get('INTERLOCK_OTLP_ENDPOINT', 'none'))"]
    try:
        ctx.services.start()
        endpoint = ctx.services.otlp_endpoint
        run_pytest(ctx, show, tmp_path / "report.json", "logs/child.log")
    finally:
        ctx.services.stop()
    assert f"endpoint={endpoint}\n" in ctx.artifacts.path("logs/child.log").read_text("utf-8")
    run_pytest(ctx, show, tmp_path / "report.json", "logs/child.log")  # services stopped: no receiver, no switch
    assert ctx.artifacts.path("logs/child.log").read_text("utf-8").endswith("endpoint=none\n")


def test_receiver_off_gives_no_otel_variables_and_a_taken_port_fails_its_check(tmp_path: Path) -> None:
    seen: list[ev.Event] = []
    ctx = context(tmp_path, "[observability]\nreceiver = false\n", seen)
    try:
        ctx.services.start()
        assert ctx.services.otlp_endpoint is None and not any(isinstance(e, ev.OtlpReceiverStarted) for e in seen)
        assert dumped(tmp_path, "web") == {"OTEL_METRIC_EXPORT_INTERVAL": "5000"}  # only what the config itself sets
    finally:
        ctx.services.stop()
    [port] = free_ports(1)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        ctx = context(tmp_path, f"[observability]\nport = {port}\n")
        try:
            checks = {c.id: c for c in ctx.services.start()}
        finally:
            ctx.services.stop()
    assert checks["otlp.receiver"].status == "fail" and f"cannot listen on 127.0.0.1:{port}" in (checks["otlp.receiver"].reason or "")
    assert dumped(tmp_path, "web") == {"OTEL_METRIC_EXPORT_INTERVAL": "5000"}  # no receiver: no endpoint handed out that nothing serves


def test_the_plan_and_the_console_name_the_endpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scope: dict[str, Any] = {"project": {"name": "t"}, "interfaces": [], "features": [], "uncovered": []}
    ctx = context(tmp_path)
    assert "- Traces: interlock's OTLP/HTTP receiver starts with the services on 127.0.0.1, a free port" in render(ctx, scope)
    try:
        ctx.services.start()
        endpoint = ctx.services.otlp_endpoint
        assert f"- Traces: OTLP/HTTP receiver at {endpoint} (spans to `{OTLP_SPANS}`)" in render(ctx, scope)
    finally:
        ctx.services.stop()
    off = context(tmp_path, "[observability]\nreceiver = false\n")
    assert "- Traces: no OTLP receiver (`[observability] receiver = false`)" in render(off, scope)
    ConsoleRenderer()(ev.OtlpReceiverStarted("1.2", "http://127.0.0.1:4318", "http://collector:4318", OTLP_SPANS))
    assert capsys.readouterr().out.strip() == ("OTLP receiver: http://127.0.0.1:4318 (OTEL_EXPORTER_OTLP_ENDPOINT for services interlock "
                                               f"does not start; spans in {OTLP_SPANS}; forwarded to http://collector:4318)")
