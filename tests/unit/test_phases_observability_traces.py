"""Step 2.3 reads the spans interlock's receiver got and the required metric names; step 3.1 ends with trace-evidence.json.

The /metrics endpoint is a real HTTP server; one span file is produced by the OpenTelemetry SDK and decoded by the
receiver's own `spans_of`, so the evidence reads what a real exporter sends.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from interlock import runspec
from interlock.artifacts import OBSERVABILITY_DATA, OTLP_RECEIVER, OTLP_SPANS, SCOPE_MATRIX, TRACE_EVIDENCE, ArtifactDir, validation_errors
from interlock.config import load
from interlock.context import RunContext
from interlock.otlp.decode import spans_of
from interlock.otlp.spans import Span
from interlock.phases import observability
from interlock.phases.observability import readiness, record_traces
from interlock.protocol import Outcome
from interlock.statuses import StepStatus, TrafficStatus

from .test_phases_phase4 import scope_matrix

EXPOSITION = "# TYPE http_requests_total counter\nhttp_requests_total{path=\"/\"} 3\n# TYPE up gauge\nup 1\n"
CONFIG = """
[project]
name = "x"
[prerequisites.feature_list]
path = "features.json"
version = "1"
[prerequisites.architecture_contracts]
path = "contracts"
version = "1"
[prerequisites.environment_baseline]
path = "b.toml"
sha256 = "{zeros}"

[services.catalog]
traces = "required"
metrics = ["http_requests_total", "orders_placed_total"]
[services.orders]
metrics = ["http_requests_total"]
depends_on = ["catalog"]

[observability]
receiver = {receiver}
batch_delay_ms = 1

[environments.integration]
probe_timeout = 3.0
[environments.integration.services.catalog]
url = "{metrics}"
[environments.integration.services.orders]
url = "{metrics}"
"""
FEATURES = {"version": "1", "features": [{"id": "F-1", "title": "Show product", "interfaces": ["catalog:GET /products/{id}"]}]}


@pytest.fixture(scope="module")
def metrics_url() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            body = EXPOSITION.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def make_ctx(root: Path, metrics: str, *, receiver: bool = True) -> RunContext:
    (root / "interlock.toml").write_text(CONFIG.format(zeros="0" * 64, metrics=metrics, receiver=str(receiver).lower()), "utf-8")
    (root / "features.json").write_text(json.dumps(FEATURES), "utf-8")
    ctx = RunContext(runspec.build(load(root / "interlock.toml"), "integration"), ArtifactDir(root / "art"), lambda e: None,
                     lambda k: (False, "test"), "run1")
    ctx.artifacts.path(OTLP_SPANS).parent.mkdir(parents=True, exist_ok=True)
    return ctx


def sdk_spans() -> list[Span]:
    """orders calls catalog: the SDK's spans (catalog's server span a child of orders' client span), as the receiver decodes them."""
    found: list[Span] = []
    parent: trace.Span | None = None
    for service, kind, attributes in (("orders", trace.SpanKind.CLIENT, {"http.request.method": "GET", "url.full": "http://catalog/products/3"}),
                                      ("catalog", trace.SpanKind.SERVER, {"http.request.method": "GET", "http.route": "/products/{product_id}"})):
        exporter = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        context = trace.set_span_in_context(parent) if parent is not None else None
        with provider.get_tracer("test").start_as_current_span(f"{service} span", context=context, kind=kind, attributes=attributes) as current:
            parent = current
        found += spans_of(encode_spans(exporter.get_finished_spans()))
    return found


def write_spans(ctx: RunContext, spans: list[Span] | str) -> None:
    text = spans if isinstance(spans, str) else "".join(json.dumps(s) + "\n" for s in spans)
    ctx.artifacts.path(OTLP_SPANS).write_text(text, "utf-8")


def test_readiness_counts_the_spans_per_service_and_names_a_silent_one_and_missing_metrics(tmp_path: Path, metrics_url: str) -> None:
    ctx = make_ctx(tmp_path, metrics_url)
    write_spans(ctx, [s for s in sdk_spans() if s["service"] == "orders"])
    rows = {r.service: r for r in readiness(ctx)}
    catalog, orders = rows["catalog"], rows["orders"]
    assert (catalog.traces, catalog.spans, catalog.traces_required) == ("missing: no spans received from catalog", 0, True)
    assert catalog.metrics_missing == ["orders_placed_total"] and catalog.metrics.startswith("missing: orders_placed_total (not among the 2 metric")
    assert (orders.traces, orders.spans, orders.traces_required, orders.metrics_missing) == ("1 span (client 1)", 1, False, [])
    assert orders.metrics == f"2 metric families at {metrics_url}/metrics"  # http_requests_total found as a counter's sample
    document = observability.data(list(rows.values()), "integration", "2026-12-04T12:00:00Z")
    assert validation_errors(OBSERVABILITY_DATA.schema_name or "", document) == []
    assert document["services"][0] | {} == {"service": "catalog", "logs": catalog.logs, "metrics": catalog.metrics, "traces": catalog.traces,
                                            "ready": False, "spans": 0, "traces_required": True, "metrics_missing": ["orders_placed_total"]}
    assert "| missing: no spans received from catalog (required) | no |" in observability.render(list(rows.values()), "integration")


def test_no_span_file_means_no_spans_and_an_unreachable_scrape_misses_every_required_name(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, "http://127.0.0.1:9")
    rows = readiness(ctx)
    assert [r.traces for r in rows] == ["missing: no spans received from catalog", "missing: no spans received from orders"]
    assert rows[0].metrics_missing == ["http_requests_total", "orders_placed_total"] and rows[0].metrics.startswith("missing:")


def test_with_the_receiver_off_every_service_is_not_instrumented(tmp_path: Path, metrics_url: str) -> None:
    ctx = make_ctx(tmp_path, metrics_url, receiver=False)
    write_spans(ctx, sdk_spans())
    assert {r.traces for r in readiness(ctx)} == {"not instrumented: the receiver is off ([observability] receiver)"}


def test_a_garbage_span_file_is_a_recorded_gap_not_a_crash(tmp_path: Path, metrics_url: str) -> None:
    ctx = make_ctx(tmp_path, metrics_url)
    write_spans(ctx, '{"trace_id": "nothex"}\n')
    rows = readiness(ctx)
    assert all(r.traces.startswith(f"missing: {OTLP_SPANS} is unreadable ({OTLP_SPANS}:1: not a span: missing ") and not r.ready for r in rows)


def test_the_end_of_3_1_writes_trace_evidence_from_the_sdk_spans(tmp_path: Path, metrics_url: str) -> None:
    ctx = make_ctx(tmp_path, metrics_url)
    write_spans(ctx, sdk_spans())
    outcome = record_traces(ctx, Outcome(StepStatus.PASS))
    assert outcome == Outcome(StepStatus.PASS)
    document = ctx.artifacts.read_json(TRACE_EVIDENCE)
    assert {s["service"]: s["spans"] for s in document["services"]} == {"catalog": 1, "orders": 1}
    assert [s["traces_required"] for s in document["services"]] == [True, False]
    assert document["interfaces"] == [{"id": "catalog:GET /products/{id}", "observed": True, "by": []}]  # no test or job traced it
    assert document["scenarios"][0]["proven"] is False  # no test's trace crossed it
    # orders → catalog is service-to-service traffic, so it counts; with no scope matrix no contract or test declares it
    assert document["undeclared"] == [{"interface": "catalog:GET /products/{id}", "from": "orders", "seen_in": [],
                                       "reason": "no contract or test declares catalog:GET /products/{id}"}]


def test_the_evidence_copies_the_receivers_counters_and_refuses_foreign_ones(tmp_path: Path, metrics_url: str) -> None:
    ctx = make_ctx(tmp_path, metrics_url)
    counters = {"endpoint": "http://127.0.0.1:4318", "forward": None, "requests": {"traces": 2, "metrics": 0, "logs": 0},
                "rejected": {"malformed": 1, "too_large": 0}, "dropped_spans": 0, "forward_failures": 0,
                "by_service": {"orders": {"spans": 1, "metrics": 0, "logs": 0, "dropped": 0, "rejected": 0}}}
    ctx.artifacts.path(OTLP_RECEIVER).write_text(json.dumps(counters), "utf-8")
    assert record_traces(ctx, Outcome(StepStatus.PASS)) == Outcome(StepStatus.PASS)
    assert ctx.artifacts.read_json(TRACE_EVIDENCE)["receiver"] == counters
    ctx.artifacts.path(OTLP_RECEIVER).write_text(json.dumps({"endpoint": 1}), "utf-8")
    outcome = record_traces(ctx, Outcome(StepStatus.FAIL, "2 failed"))
    assert outcome.status == StepStatus.FAIL and outcome.reason is not None and outcome.reason.startswith("2 failed; no trace evidence: ")


def test_a_corrupt_span_file_fails_3_1_with_the_line_and_writes_no_evidence(tmp_path: Path, metrics_url: str) -> None:
    ctx = make_ctx(tmp_path, metrics_url)
    write_spans(ctx, json.dumps(sdk_spans()[0]) + "\nnot json\n")
    outcome = record_traces(ctx, Outcome(StepStatus.PASS))
    assert outcome.status == StepStatus.FAIL and outcome.reason is not None
    assert outcome.reason.startswith(f"no trace evidence: {OTLP_SPANS}:2: not JSON")  # the file as the folder names it, no machine path
    assert not ctx.artifacts.exists(TRACE_EVIDENCE)


def test_pact_jobs_and_tests_take_their_trace_ids_from_the_reports() -> None:
    matrix = {"interfaces": [{"id": "catalog:GET /products/{id}", "checks": [{"kind": "pact", "ref": "orders->catalog: get product"}]}]}
    results = {"contracts": [
        {"id": "pact:orders->catalog", "kind": "pact-http", "job": "catalog-http", "trace_id": "b" * 32, "interactions": [{"id": "orders->catalog: get product"}]},
        {"id": "pact:web->catalog", "kind": "pact-http", "job": "catalog-http", "trace_id": "b" * 32, "interactions": [{"id": "web->catalog: x"}]},
        {"id": "openapi:catalog", "kind": "openapi", "trace_id": "c" * 32, "interactions": []},
        {"id": "pact:web->orders", "kind": "pact-http", "job": "orders-http", "interactions": [{"id": "web->orders: x", "trace_id": "d" * 32}]},
        {"id": "pact:web->shipping", "kind": "pact-http", "interactions": [{"id": "web->shipping: x"}]}]}
    jobs = observability.pact_jobs(results, matrix)
    assert [(j.id, j.trace_id, j.interfaces) for j in jobs] == [("catalog-http", "b" * 32, ("catalog:GET /products/{id}",)),
                                                               ("orders-http", "d" * 32, ()), ("pact:web->shipping", None, ())]
    report = {"root": "/srv/x", "tests": [
        {"nodeid": "t.py::a", "outcome": "passed", "keywords": ["critical"], "trace_id": "e" * 32, "metadata": {"interfaces": ["catalog:GET /products/{id}"]}},
        {"nodeid": "t.py::b", "outcome": "failed", "keywords": [], "metadata": {"trace_id": "f" * 32}},
        {"nodeid": "t.py::c", "outcome": "passed", "keywords": [], "trace_id": "short"}]}
    tests = observability.traced_tests(report, Path("/srv/x"))
    assert [(t.id, t.trace_id, t.interfaces, t.critical, t.proves) for t in tests] == [
        ("t.py::a", "e" * 32, ("catalog:GET /products/{id}",), True, True), ("t.py::b", "f" * 32, (), False, False), ("t.py::c", None, (), False, True)]


COUNTERS = {"endpoint": "http://127.0.0.1:4318", "forward": None, "requests": {"traces": 2, "metrics": 0, "logs": 0},
            "rejected": {"malformed": 0, "too_large": 0}, "dropped_spans": 0, "forward_failures": 0,
            "by_service": {"orders": {"spans": 1, "metrics": 0, "logs": 0, "dropped": 0, "rejected": 0}}}


@pytest.mark.parametrize("receiver, crossed, silent", [(True, TrafficStatus.OBSERVED, TrafficStatus.NOT_OBSERVED),
                                                       (False, TrafficStatus.UNKNOWN, TrafficStatus.UNKNOWN)])
def test_the_end_of_3_1_marks_the_scope_matrix_with_the_traffic_it_recorded(tmp_path: Path, metrics_url: str, receiver: bool,
                                                                           crossed: TrafficStatus, silent: TrafficStatus) -> None:
    ctx = make_ctx(tmp_path, metrics_url, receiver=receiver)
    matrix = scope_matrix(uncovered=("catalog:GET /health",))
    ctx.artifacts.write_json(SCOPE_MATRIX, matrix)
    write_spans(ctx, sdk_spans())
    if receiver:
        ctx.artifacts.path(OTLP_RECEIVER).write_text(json.dumps(COUNTERS), "utf-8")
    assert record_traces(ctx, Outcome(StepStatus.PASS)) == Outcome(StepStatus.PASS)
    written = ctx.artifacts.read_json(SCOPE_MATRIX)
    assert {i["id"]: i["traffic"]["status"] for i in written["interfaces"]} == {"catalog:GET /products/{id}": crossed, "catalog:GET /health": silent}
    for interface in matrix["interfaces"]:  # the rest of the matrix is 1.1's, untouched
        del interface["traffic"]
    assert [{k: v for k, v in i.items() if k != "traffic"} for i in written["interfaces"]] == matrix["interfaces"]
    assert {k: v for k, v in written.items() if k != "interfaces"} == {k: v for k, v in matrix.items() if k != "interfaces"}


def test_a_3_1_that_records_no_evidence_leaves_the_matrix_pending(tmp_path: Path, metrics_url: str) -> None:
    ctx = make_ctx(tmp_path, metrics_url)
    ctx.artifacts.write_json(SCOPE_MATRIX, scope_matrix())
    write_spans(ctx, "not json\n")
    assert record_traces(ctx, Outcome(StepStatus.PASS)).status == StepStatus.FAIL
    assert [i["traffic"]["status"] for i in ctx.artifacts.read_json(SCOPE_MATRIX)["interfaces"]] == [TrafficStatus.PENDING]
