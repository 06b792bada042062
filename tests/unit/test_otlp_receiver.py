"""The built-in OTLP/HTTP receiver (interlock.otlp.receiver), driven over real HTTP on loopback.

Every pass has its failing twin: garbage gets 400 and is counted, an oversized
body 413, a flood is cut at its sender's share while the others keep theirs,
a dead collector is counted and the export still answered.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan, Status

from interlock.otlp import SENDER_HEADER
from interlock.otlp.receiver import Receiver
from interlock.otlp.spans import read_counters, read_spans
from interlock.secrets import Redactor
from tests.support import free_ports

TRACE = "5b8efff798038103d269b633813fc60c"
PROTOBUF = {"Content-Type": "application/x-protobuf"}


class Run:
    """A started receiver and the two files it writes."""

    def __init__(self, folder: Path, **options: Any) -> None:
        self.spans_file, self.counters_file = folder / "logs" / "otlp-spans.jsonl", folder / "logs" / "otlp-receiver.json"
        options.setdefault("services", ["orders", "catalog"])
        self.receiver = Receiver(spans_file=self.spans_file, counters_file=self.counters_file, redactor=Redactor({"hunter2": "DB_PASSWORD"}), **options)
        self.endpoint = self.receiver.start()

    def post(self, signal: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(f"{self.endpoint}/v1/{signal}", content=body, headers=headers, timeout=10)

    def counters(self) -> dict[str, Any]:
        self.receiver.write_counters()
        counters = read_counters(self.counters_file)  # every counters file the receiver writes is the shape its reader checks
        assert counters is not None
        return dict(counters)

    def lines(self) -> list[dict[str, Any]]:
        return [dict(span) for span in read_spans(self.spans_file)]


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    started = Run(tmp_path)
    try:
        yield started
    finally:
        started.receiver.stop()


def kv(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def request(service: str | None, count: int = 1, first: int = 1) -> ExportTraceServiceRequest:
    """`count` server spans of one trace from `service` (None: a resource without service.name), the first with every attribute type."""
    message = ExportTraceServiceRequest()
    resource_spans = message.resource_spans.add()
    if service is not None:
        resource_spans.resource.attributes.append(kv("service.name", AnyValue(string_value=service)))
    scope = resource_spans.scope_spans.add()
    for n in range(first, first + count):
        span = scope.spans.add(trace_id=bytes.fromhex(TRACE), span_id=n.to_bytes(8, "big"), name=f"GET /orders/{{id}} {n}",
                               kind=ProtoSpan.SPAN_KIND_SERVER, start_time_unix_nano=1000 + n, end_time_unix_nano=2000 + n)
        if n == first:
            span.parent_span_id = (0xAB).to_bytes(8, "big")
            span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="boom"))
            span.attributes.extend([
                kv("http.route", AnyValue(string_value="/orders/{id}")), kv("http.status_code", AnyValue(int_value=500)),
                kv("ok", AnyValue(bool_value=False)), kv("ratio", AnyValue(double_value=0.5)),
                kv("tags", AnyValue(array_value=ArrayValue(values=[AnyValue(string_value="a"), AnyValue(int_value=2)]))),
                kv("nested", AnyValue(kvlist_value=KeyValueList(values=[kv("k", AnyValue(string_value="v"))]))),
                kv("db.password", AnyValue(string_value="hunter2")),
            ])
    return message


EXPECTED_FIRST = {
    "trace_id": TRACE, "span_id": "0000000000000001", "parent_span_id": "00000000000000ab", "service": "orders",
    "name": "GET /orders/{id} 1", "kind": "server", "status": "error", "start_ns": 1001, "end_ns": 2001,
    "attributes": {"http.route": "/orders/{id}", "http.status_code": 500, "ok": False, "ratio": 0.5, "tags": ["a", 2],
                   "nested": '{"k": "v"}', "db.password": "***"},
}


def as_otlp_json(message: ExportTraceServiceRequest) -> bytes:
    """The OTLP JSON encoding of a request: the protobuf JSON mapping with hex trace and span ids, as SDKs send it."""
    from google.protobuf import json_format
    import base64

    def hexed(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: base64.b64decode(v).hex() if k in ("traceId", "spanId", "parentSpanId") else hexed(v) for k, v in value.items()}
        return [hexed(v) for v in value] if isinstance(value, list) else value

    return json.dumps(hexed(json_format.MessageToDict(message))).encode()


def test_a_protobuf_export_becomes_one_redacted_line_per_span(run: Run) -> None:
    response = run.post("traces", request("orders", 2).SerializeToString(), PROTOBUF)
    assert response.status_code == 200 and response.headers["content-type"] == "application/x-protobuf"
    assert not ExportTraceServiceResponse.FromString(response.content).HasField("partial_success")
    lines = run.lines()
    assert lines[0] == EXPECTED_FIRST
    assert lines[1]["parent_span_id"] is None and lines[1]["status"] == "unset" and lines[1]["attributes"] == {}
    assert "hunter2" not in run.spans_file.read_text("utf-8")
    counters = run.counters()
    assert counters["endpoint"] == run.endpoint and counters["requests"] == {"traces": 1, "metrics": 0, "logs": 0}
    assert counters["by_service"]["orders"] == {"spans": 2, "metrics": 0, "logs": 0, "dropped": 0, "rejected": 0}


def test_an_otlp_json_export_gives_the_same_lines_as_its_protobuf(run: Run) -> None:
    response = run.post("traces", as_otlp_json(request("orders", 2)), {"Content-Type": "application/json"})
    assert response.status_code == 200 and response.json() == {}
    run.post("traces", gzip.compress(request("orders", 2).SerializeToString()), {**PROTOBUF, "Content-Encoding": "gzip"})
    json_lines, proto_lines = run.lines()[:2], run.lines()[2:]
    assert json_lines == proto_lines and json_lines[0] == EXPECTED_FIRST


def test_a_resource_without_a_service_name_is_unknown_and_metrics_and_logs_are_counted(run: Run) -> None:
    assert run.post("traces", request(None).SerializeToString(), PROTOBUF).status_code == 200
    assert run.lines()[0]["service"] == "unknown"
    metrics = ExportMetricsServiceRequest()
    resource = metrics.resource_metrics.add()
    resource.resource.attributes.append(kv("service.name", AnyValue(string_value="catalog")))
    gauge = resource.scope_metrics.add().metrics.add(name="queue_depth").gauge
    gauge.data_points.add(as_int=3)
    gauge.data_points.add(as_int=4)
    logs = ExportLogsServiceRequest()
    resource_logs = logs.resource_logs.add()
    resource_logs.resource.attributes.append(kv("service.name", AnyValue(string_value="catalog")))
    resource_logs.scope_logs.add().log_records.add(severity_text="INFO")
    assert run.post("metrics", metrics.SerializeToString(), PROTOBUF).status_code == 200
    assert run.post("logs", logs.SerializeToString(), PROTOBUF).status_code == 200
    counters = run.counters()
    assert counters["requests"] == {"traces": 1, "metrics": 1, "logs": 1}
    assert (counters["by_service"]["catalog"]["metrics"], counters["by_service"]["catalog"]["logs"]) == (2, 1)


@pytest.mark.parametrize(("body", "content_type", "status"), [
    (b"\xff\xfegarbage that is no protobuf", "application/x-protobuf", 400),
    (b'{"hello": "world"}', "application/json", 400),          # JSON, but not OTLP
    (b"[1, 2, 3]", "application/json", 400),
    (b"{not json", "application/json", 400),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "abc", "spanId": "01"}]}]}]}', "application/json", 400),  # ids not 16/8 bytes
    (request("orders").SerializeToString(), "text/plain", 415),
])
def test_garbage_gets_an_error_status_is_counted_against_its_sender_and_keeps_nothing(run: Run, body: bytes, content_type: str, status: int) -> None:
    response = run.post("traces", body, {"Content-Type": content_type, SENDER_HEADER: "orders"})
    assert response.status_code == status, response.text
    assert run.lines() == []
    counters = run.counters()
    assert counters["rejected"] == {"malformed": 1, "too_large": 0}
    assert counters["by_service"]["orders"]["rejected"] == 1 and counters["by_service"]["orders"]["spans"] == 0
    assert run.post("traces", request("orders").SerializeToString(), PROTOBUF).status_code == 200  # the receiver still serves


def test_a_body_over_the_bound_gets_413_even_when_it_only_inflates_past_it(tmp_path: Path) -> None:
    run = Run(tmp_path, max_payload_bytes=2048)
    try:
        big = request("orders", 100).SerializeToString()
        assert len(big) > 2048
        assert run.post("traces", big, PROTOBUF).status_code == 413
        bomb = gzip.compress(b"\0" * 100_000)
        assert len(bomb) < 2048
        assert run.post("traces", bomb, {**PROTOBUF, "Content-Encoding": "gzip"}).status_code == 413
        assert run.post("traces", request("orders", 2).SerializeToString(), PROTOBUF).status_code == 200
        counters = run.counters()
        assert counters["rejected"] == {"malformed": 0, "too_large": 2}
        assert counters["by_service"]["orders"]["spans"] == 2
    finally:
        run.receiver.stop()


def test_a_flood_past_max_spans_drops_the_flooders_spans_not_the_others(tmp_path: Path) -> None:
    """max_spans 40 over orders, catalog, the tests and the undeclared pool: a share of 10 each, kept free for each."""
    run = Run(tmp_path, max_spans=40)
    try:
        flood = run.post("traces", request("orders", 100).SerializeToString(), PROTOBUF)
        assert flood.status_code == 200
        partial = ExportTraceServiceResponse.FromString(flood.content).partial_success
        assert partial.rejected_spans == 90 and "max_spans" in partial.error_message  # 40 less the 30 the three others may still need
        for service in ("catalog", "interlock-tests", "stranger"):
            response = run.post("traces", request(service, 10, first=200).SerializeToString(), PROTOBUF)
            assert not ExportTraceServiceResponse.FromString(response.content).HasField("partial_success"), service
        assert run.post("traces", request("catalog", 1, first=300).SerializeToString(), PROTOBUF).status_code == 200
        counters = run.counters()
        kept = {s: n["spans"] for s, n in counters["by_service"].items()}
        assert kept == {"orders": 10, "catalog": 10, "interlock-tests": 10, "stranger": 10}
        assert counters["dropped_spans"] == 91 and counters["by_service"]["catalog"]["dropped"] == 1
        assert len(run.lines()) == 40
    finally:
        run.receiver.stop()


class Collector(BaseHTTPRequestHandler):
    """A tiny stand-in for an OpenTelemetry Collector: keeps what it is sent."""

    received: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Collector.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_forwarding_posts_the_payload_unchanged_and_a_dead_collector_is_counted_not_fatal(tmp_path: Path) -> None:
    collector = HTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    Collector.received = []
    run = Run(tmp_path / "a", forward=f"http://127.0.0.1:{collector.server_address[1]}")
    body = request("orders", 3).SerializeToString()
    try:
        assert run.post("traces", body, PROTOBUF).status_code == 200
        assert run.post("traces", b"garbage", PROTOBUF).status_code == 400  # refused: not forwarded
    finally:
        run.receiver.stop()
        collector.shutdown()
    assert Collector.received == [("/v1/traces", "application/x-protobuf", body)]
    assert run.counters()["forward_failures"] == 0 and run.counters()["forward"].startswith("http://127.0.0.1:")

    [dead] = free_ports(1)
    run = Run(tmp_path / "b", forward=f"http://127.0.0.1:{dead}")
    try:
        assert run.post("traces", body, PROTOBUF).status_code == 200
    finally:
        run.receiver.stop()
    assert run.counters()["forward_failures"] == 1 and len(run.lines()) == 3


def test_a_restarted_receiver_appends_to_the_spans_and_continues_the_counts(tmp_path: Path) -> None:
    first = Run(tmp_path, run_id="run-a")
    first.post("traces", request("orders", 2).SerializeToString(), PROTOBUF)
    first.receiver.stop()
    second = Run(tmp_path, run_id="run-a")  # the same run, resumed
    try:
        second.post("traces", request("orders", 1, first=50).SerializeToString(), PROTOBUF)
        assert [line["span_id"][-2:] for line in second.lines()] == ["01", "02", "32"]
        assert second.counters()["by_service"]["orders"]["spans"] == 3 and second.counters()["requests"]["traces"] == 2
    finally:
        second.receiver.stop()


def test_a_new_run_in_the_same_folder_starts_the_spans_and_counts_afresh(tmp_path: Path) -> None:
    first = Run(tmp_path, run_id="run-a", max_spans=4)
    first.post("traces", request("orders", 2).SerializeToString(), PROTOBUF)
    first.receiver.stop()
    second = Run(tmp_path, run_id="run-b", max_spans=4)  # a later step command: its spans are its own, its share not used up
    try:
        second.post("traces", request("orders", 1, first=50).SerializeToString(), PROTOBUF)
        assert [line["span_id"][-2:] for line in second.lines()] == ["32"]
        counters = second.counters()
        assert counters["run_id"] == "run-b" and counters["by_service"]["orders"]["spans"] == 1 and counters["requests"]["traces"] == 1
    finally:
        second.receiver.stop()


def test_a_taken_port_is_a_clear_error_and_other_paths_and_methods_are_refused(run: Run) -> None:
    from interlock.otlp.receiver import ReceiverError

    port = int(run.endpoint.rsplit(":", 1)[1])
    clash = Receiver(spans_file=run.spans_file, counters_file=run.counters_file, redactor=Redactor(), services=[], port=port)
    with pytest.raises(ReceiverError, match=f"cannot listen on 127.0.0.1:{port}"):
        clash.start()
    assert httpx.post(f"{run.endpoint}/v1/nothing", content=b"x").status_code == 404
    assert httpx.get(f"{run.endpoint}/v1/traces").status_code == 405
    assert run.counters()["rejected"] == {"malformed": 0, "too_large": 0}  # not OTLP's paths: refused, not counted
    import socket

    with socket.create_connection(("127.0.0.1", port)) as raw:
        raw.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")  # a TLS hello, say
        assert b"Error code: 400" in b"".join(iter(lambda: raw.recv(4096), b""))  # http.server's answer to no HTTP (no status line)
    counters = run.counters()
    assert counters["rejected"] == {"malformed": 1, "too_large": 0} and counters["requests"] == {"traces": 0, "metrics": 0, "logs": 0}


def test_a_real_sdk_exporter_sends_spans_that_become_the_expected_lines(run: Run) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import SpanKind, Status, StatusCode

    provider = TracerProvider(resource=Resource.create({"service.name": "catalog"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{run.endpoint}/v1/traces"), schedule_delay_millis=50))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("GET /products/{id}", kind=SpanKind.SERVER, attributes={"http.route": "/products/{id}"}) as server:
        with tracer.start_as_current_span("SELECT products", kind=SpanKind.CLIENT, attributes={"db.system": "sqlite"}) as client:
            client.set_status(Status(StatusCode.ERROR, "no such table"))
    provider.shutdown()
    lines = {line["name"]: line for line in run.lines()}
    assert set(lines) == {"GET /products/{id}", "SELECT products"}
    parent, child = lines["GET /products/{id}"], lines["SELECT products"]
    assert parent["trace_id"] == child["trace_id"] == f"{server.get_span_context().trace_id:032x}"
    assert child["parent_span_id"] == parent["span_id"] == f"{server.get_span_context().span_id:016x}"
    assert (parent["kind"], parent["status"], child["kind"], child["status"]) == ("server", "unset", "client", "error")
    assert parent["service"] == child["service"] == "catalog" and child["attributes"] == {"db.system": "sqlite"}
    assert parent["end_ns"] >= child["end_ns"] >= child["start_ns"] >= parent["start_ns"] > 0
    assert run.counters()["by_service"]["catalog"]["spans"] == 2


def test_a_flood_of_connections_is_served_by_a_fixed_pool_and_idle_ones_lose_their_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket
    import time
    from concurrent.futures import ThreadPoolExecutor

    from interlock.otlp import receiver as module

    monkeypatch.setattr(module._Handler, "timeout", 0.5)
    run = Run(tmp_path)
    host, port = run.endpoint.removeprefix("http://").split(":")
    idle = [socket.create_connection((host, int(port))) for _ in range(module.WORKERS + 2)]  # hold every worker, send nothing
    slow = socket.create_connection((host, int(port)))
    slow.sendall(b"POST /v1/traces HTTP/1.1\r\nContent-Type: application/x-protobuf\r\nContent-Length: 100\r\n\r\n")
    try:
        started = time.monotonic()
        body = request("orders").SerializeToString()
        with ThreadPoolExecutor(32) as pool:
            statuses = list(pool.map(lambda n: run.post("traces", body, PROTOBUF).status_code, range(64)))
        assert statuses == [200] * 64 and time.monotonic() - started < 15
        workers = [t for t in threading.enumerate() if t.name.startswith("interlock-otlp")]
        assert len(workers) == module.WORKERS + 2  # the pool, the acceptor, the counters writer: no thread per connection
        assert b" 408 " in slow.recv(200)  # the slow body lost its worker and was told why
        counters = run.counters()
        assert counters["by_service"]["orders"]["spans"] == 64 and counters["rejected"]["malformed"] == 1
    finally:
        for sock in (*idle, slow):
            sock.close()
        run.receiver.stop()


def test_a_half_line_left_by_a_killed_run_is_cut_and_counted_before_appending(tmp_path: Path) -> None:
    first = Run(tmp_path)
    first.post("traces", request("orders", 1).SerializeToString(), PROTOBUF)
    first.receiver.stop()
    with first.spans_file.open("a", encoding="utf-8") as out:
        out.write('{"trace_id": "5b8e')  # the kill came mid-write
    second = Run(tmp_path)
    try:
        second.post("traces", request("orders", 1, first=7).SerializeToString(), PROTOBUF)
        assert [line["span_id"] for line in second.lines()] == ["0000000000000001", "0000000000000007"]
        assert second.counters()["dropped_spans"] == 1
    finally:
        second.receiver.stop()


def test_a_span_file_that_cannot_be_written_is_a_clear_error_and_frees_the_port(tmp_path: Path) -> None:
    (tmp_path / "logs").write_text("a file where the folder should be", "utf-8")
    [port] = free_ports(1)
    receiver = Receiver(spans_file=tmp_path / "logs" / "otlp-spans.jsonl", counters_file=tmp_path / "c.json", redactor=Redactor(), services=[], port=port)
    from interlock.otlp.receiver import ReceiverError

    with pytest.raises(ReceiverError, match="cannot write .*logs"):
        receiver.start()
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # released


def test_spans_that_cannot_be_written_get_503_and_are_counted_dropped_not_kept(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(run.receiver, "_append", full)
    response = run.post("traces", request("orders", 3).SerializeToString(), PROTOBUF)
    assert response.status_code == 503 and "No space left on device" in response.text
    monkeypatch.undo()
    assert run.post("traces", request("orders", 1, first=9).SerializeToString(), PROTOBUF).status_code == 200
    counters = run.counters()
    assert counters["by_service"]["orders"] == {"spans": 1, "metrics": 0, "logs": 0, "dropped": 3, "rejected": 0}
    assert counters["dropped_spans"] == 3 and counters["rejected"] == {"malformed": 0, "too_large": 0} and len(run.lines()) == 1


def test_forwarding_to_the_receiver_itself_is_refused_in_the_config_and_at_start(tmp_path: Path) -> None:
    from interlock.config import parse
    from interlock.errors import ConfigError
    from interlock.otlp.receiver import ReceiverError
    from tests.support import config_head

    [port] = free_ports(1)
    text = config_head() + f'[observability]\nport = {port}\nforward = "http://localhost:{port}"\n[services.web]\n[environments.test.services.web]\nurl = "http://127.0.0.1:9"\n'
    with pytest.raises(ConfigError) as info:
        parse(text, tmp_path / "interlock.toml")
    [problem] = info.value.problems
    assert problem.key == "observability" and "is the receiver itself" in problem.message and problem.line == 1 + config_head().count("\n")  # the [observability] line
    parse(text.replace(f"localhost:{port}", f"localhost:{port + 1}"), tmp_path / "interlock.toml")  # another port: a collector
    loop = Receiver(spans_file=tmp_path / "s.jsonl", counters_file=tmp_path / "c.json", redactor=Redactor(), services=[], port=port,
                    forward=f"http://127.0.0.1:{port}")
    with pytest.raises(ReceiverError, match="forward to itself"):
        loop.start()


def test_a_sender_inventing_service_names_is_counted_under_a_bounded_number_of_names(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock.otlp import receiver as module

    monkeypatch.setattr(module, "MAX_SENDERS", 3)
    for n in range(6):
        assert run.post("traces", request(f"invented-{n}", 1, first=n + 1).SerializeToString(), PROTOBUF).status_code == 200
    assert run.post("traces", request("catalog", 1, first=99).SerializeToString(), PROTOBUF).status_code == 200  # declared: its own name
    by_service = run.counters()["by_service"]
    assert {name: numbers["spans"] for name, numbers in by_service.items()} == {
        "invented-0": 1, "invented-1": 1, "invented-2": 1, "(more senders)": 3, "catalog": 1}
    assert [line["service"] for line in run.lines()][-4:] == ["invented-3", "invented-4", "invented-5", "catalog"]  # the lines keep theirs
