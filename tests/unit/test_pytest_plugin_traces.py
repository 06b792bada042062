"""The plugin's test spans (issue 16): one span per test to a real OTLP receiver, `traceparent` on the suite's requests,
each test's trace id in pytest-json-report's metadata; nothing at all when INTERLOCK_OTLP_ENDPOINT is unset."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from interlock.otlp.decode import decode
from interlock.otlp.receiver import Receiver
from interlock.otlp.spans import read_spans
from interlock.pytest_plugin import ENDPOINT_VARIABLE, SpanExporter, TestSpan, encode, traceparent
from interlock.secrets import Redactor
from interlock.statuses import TestOutcome
from tests.support import free_ports

pytest_plugins = ["pytester"]
QUIET = ("-p", "no:hypothesispytest", "-p", "no:schemathesis", "-p", "no:pact")

SUITE = """
import json, os
import httpx
import pytest
from interlock.pytest_plugin import traced_http

SEEN = os.environ["SEEN_FILE"]

def _echo(request):
    with open(SEEN, "a") as out:
        out.write(json.dumps({"test": os.environ["PYTEST_CURRENT_TEST"].split(" ")[0],
                              "traceparent": request.headers.get("traceparent")}) + "\\n")
    return httpx.Response(200)

@pytest.fixture(scope="session")
def http():
    with httpx.Client(transport=httpx.MockTransport(_echo), event_hooks={"request": [traced_http]}) as client:
        yield client

def test_passes(http):
    http.get("http://shop.test/products/1")
    http.get("http://shop.test/products/2")

def test_fails(http):
    http.get("http://shop.test/orders")
    assert False, "the order was lost"

def test_skipped():
    pytest.skip("not today")

def test_fixture_value(interlock_traceparent):
    with open(SEEN, "a") as out:
        out.write(json.dumps({"test": "fixture", "traceparent": interlock_traceparent}) + "\\n")
"""


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    started = Receiver(spans_file=tmp_path / "spans.jsonl", counters_file=tmp_path / "counters.json", redactor=Redactor({}), services=["orders"])
    started.start()
    yield started
    started.stop()


def run_suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, endpoint: str | None) -> tuple[pytest.RunResult, dict[str, Any], list[dict[str, Any]]]:
    pytester.makepyfile(test_traced=SUITE)
    seen = pytester.path / "seen.jsonl"
    monkeypatch.setenv("SEEN_FILE", str(seen))
    if endpoint is None:
        monkeypatch.delenv(ENDPOINT_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(ENDPOINT_VARIABLE, endpoint)
    report = pytester.path / "report.json"
    result = pytester.runpytest(*QUIET, "--json-report", f"--json-report-file={report}")
    return result, json.loads(report.read_text()), [json.loads(line) for line in seen.read_text().splitlines()]


def test_each_test_sends_one_span_whose_trace_its_requests_carry(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, receiver: Receiver,
                                                                  tmp_path: Path) -> None:
    result, report, seen = run_suite(pytester, monkeypatch, receiver.endpoint)
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    spans = {span["name"]: span for span in read_spans(tmp_path / "spans.jsonl")}
    assert sorted(spans) == ["test_traced.py::test_fails", "test_traced.py::test_fixture_value", "test_traced.py::test_passes", "test_traced.py::test_skipped"]
    assert {span["service"] for span in spans.values()} == {"interlock-tests"}
    assert {name: span["status"] for name, span in spans.items()} == {
        "test_traced.py::test_passes": "ok", "test_traced.py::test_fails": "error", "test_traced.py::test_skipped": "unset",
        "test_traced.py::test_fixture_value": "ok"}
    for name, span in spans.items():
        assert span["attributes"]["interlock.test.nodeid"] == name and span["parent_span_id"] is None and span["kind"] == "internal"
        assert span["start_ns"] <= span["end_ns"]
    trace_ids = {test["nodeid"]: test["metadata"]["trace_id"] for test in report["tests"]}
    assert trace_ids == {name: span["trace_id"] for name, span in spans.items()}
    expected = {name: f"00-{span['trace_id']}-{span['span_id']}-01" for name, span in spans.items()}
    assert [(s["test"], s["traceparent"]) for s in seen] == [
        ("test_traced.py::test_passes", expected["test_traced.py::test_passes"]),
        ("test_traced.py::test_passes", expected["test_traced.py::test_passes"]),
        ("test_traced.py::test_fails", expected["test_traced.py::test_fails"]),
        ("fixture", expected["test_traced.py::test_fixture_value"]),
    ]
    assert "not delivered" not in result.stdout.str()


def test_a_suite_that_seeds_random_still_gives_every_test_its_own_trace(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                                                       receiver: Receiver, tmp_path: Path) -> None:
    """Trace ids come from the plugin's own generator: tests that reseed `random` (as many suites do) cannot make two share one."""
    pytester.makepyfile(test_seeded="import random, pytest\n\n@pytest.fixture(autouse=True)\ndef seeded():\n    random.seed(7)\n\n"
                                    + "".join(f"def test_{n}():\n    random.seed(7)\n\n" for n in range(5)))
    monkeypatch.setenv(ENDPOINT_VARIABLE, receiver.endpoint)
    report = pytester.path / "report.json"
    pytester.runpytest(*QUIET, "--json-report", f"--json-report-file={report}").assert_outcomes(passed=5)
    ids = [test["metadata"]["trace_id"] for test in json.loads(report.read_text())["tests"]]
    spans = list(read_spans(tmp_path / "spans.jsonl"))
    assert len(set(ids)) == 5 and sorted(ids) == sorted(span["trace_id"] for span in spans)
    assert len({span["span_id"] for span in spans}) == 5


def test_without_the_endpoint_there_is_no_span_no_header_and_no_trace_id(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                                                          receiver: Receiver, tmp_path: Path) -> None:
    result, report, seen = run_suite(pytester, monkeypatch, None)
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    assert not any("trace_id" in test["metadata"] for test in report["tests"])
    assert {s["traceparent"] for s in seen} == {None}
    assert list(read_spans(tmp_path / "spans.jsonl")) == []
    assert traceparent() is None


def test_a_receiver_that_is_not_there_is_said_and_the_suite_still_runs(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_ports(1)[0]
    result, report, _ = run_suite(pytester, monkeypatch, f"http://127.0.0.1:{port}")
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    result.stdout.fnmatch_lines([f"interlock: 4 of 4 test span(s) not delivered to http://127.0.0.1:{port}: *Connection*"])
    assert all(len(test["metadata"]["trace_id"]) == 32 for test in report["tests"])


def test_an_endpoint_that_is_no_url_is_a_usage_error(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    monkeypatch.setenv(ENDPOINT_VARIABLE, "127.0.0.1:4318")
    result = pytester.runpytest(*QUIET)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*INTERLOCK_OTLP_ENDPOINT='127.0.0.1:4318' is not an http(s) URL*"])


def test_spans_the_receiver_rejects_are_counted_as_lost(receiver: Receiver) -> None:
    """A span with an all-zero trace id is refused (400): the exporter counts it lost with the receiver's reason."""
    exporter = SpanExporter(receiver.endpoint)
    span = TestSpan("t.py::test_zero")
    span.trace_id = "0" * 32
    exporter.add(span, span.start_ns)
    exporter.close()
    assert (exporter.sent, exporter.lost) == (0, 1)
    assert exporter.error.startswith("HTTP 400")


def test_spans_over_the_receivers_bound_are_counted_as_lost_with_its_partial_success(tmp_path: Path) -> None:
    """The receiver keeps what its bound allows and answers a partial success: the exporter reads it and counts the rest lost."""
    bounded = Receiver(spans_file=tmp_path / "spans.jsonl", counters_file=tmp_path / "counters.json", redactor=Redactor({}),
                       services=[], max_spans=4)  # two slots (the tests, the others): the tests may keep 2
    bounded.start()
    try:
        exporter = SpanExporter(bounded.endpoint)
        for n in range(5):
            span = TestSpan(f"t.py::test_{n}")
            exporter.add(span, span.start_ns + 1)
        exporter.close()
    finally:
        bounded.stop()
    assert (exporter.sent, exporter.lost) == (2, 3)
    assert exporter.error.startswith("the receiver rejected 3 span(s)") and "max_spans" in exporter.error
    assert len(list(read_spans(tmp_path / "spans.jsonl"))) == 2


def _library_request(spans: list[tuple[TestSpan, int]]) -> Any:
    """The same export request built with opentelemetry-proto's own classes: what `encode` must equal."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="interlock-tests")))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "interlock.pytest_plugin"
    for span, end_ns in spans:
        out = scope_spans.spans.add(trace_id=bytes.fromhex(span.trace_id), span_id=bytes.fromhex(span.span_id), name=span.nodeid,
                                    kind=Span.SPAN_KIND_INTERNAL, start_time_unix_nano=span.start_ns, end_time_unix_nano=end_ns)
        out.attributes.extend((KeyValue(key="interlock.test.nodeid", value=AnyValue(string_value=span.nodeid)),
                               KeyValue(key="interlock.test.outcome", value=AnyValue(string_value=str(span.outcome)))))
        if span.outcome == TestOutcome.FAILED:
            out.status.code, out.status.message = Status.STATUS_CODE_ERROR, span.message
        elif span.outcome == TestOutcome.PASSED:
            out.status.code = Status.STATUS_CODE_OK
    return request


def test_encoded_spans_are_the_librarys_own_message_and_what_the_receiver_reads() -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from interlock.otlp.decode import spans_of

    passed, failed, skipped = TestSpan("t.py::test_one"), TestSpan("t.py::test_ünïcode[a-" + "x" * 300 + "]"), TestSpan("t.py::test_skip")
    failed.outcome, failed.message = TestOutcome.FAILED, "call failed: é"
    skipped.outcome = TestOutcome.SKIPPED
    spans = [(passed, passed.start_ns + 5), (failed, failed.start_ns + 2**40), (skipped, skipped.start_ns)]
    body = encode(spans)
    assert ExportTraceServiceRequest.FromString(body) == _library_request(spans)
    request = decode("traces", "application/x-protobuf", body)  # the receiver's own decoding
    assert isinstance(request, ExportTraceServiceRequest)
    lines = spans_of(request)
    assert [(line["name"], line["status"], line["end_ns"] - line["start_ns"]) for line in lines] == [
        ("t.py::test_one", "ok", 5), (failed.nodeid, "error", 2**40), ("t.py::test_skip", "unset", 0)]
    assert [line["service"] for line in lines] == ["interlock-tests"] * 3


def _json_report(tmp_path: Path, metadata: dict[str, Any]) -> Path:
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"exitcode": 0, "root": str(tmp_path), "summary": {"total": 1, "collected": 1},
                                "tests": [{"nodeid": "t.py::test_one", "outcome": "passed", "keywords": [], "metadata": metadata}]}))
    return path


def test_the_execution_report_keeps_each_tests_trace_id(tmp_path: Path) -> None:
    from interlock.execution import read_report

    report = read_report(_json_report(tmp_path, {"interfaces": [], "trace_id": "5b8efff798038103d269b633813fc60c"}))
    assert report is not None and report["tests"][0]["trace_id"] == "5b8efff798038103d269b633813fc60c"
    report = read_report(_json_report(tmp_path, {"interfaces": []}))
    assert report is not None and "trace_id" not in report["tests"][0]


def test_a_trace_id_that_is_not_32_hex_digits_is_a_changed_report_format(tmp_path: Path) -> None:
    from interlock.execution import ReportFormatError, read_report

    with pytest.raises(ReportFormatError, match="trace_id"):
        read_report(_json_report(tmp_path, {"interfaces": [], "trace_id": "not-a-trace"}))


def test_under_xdist_each_worker_sends_its_tests_spans(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, receiver: Receiver,
                                                       tmp_path: Path) -> None:
    pytester.makepyfile(**{f"test_many_{n}": "\n".join(f"def test_{i}():\n    pass\n" for i in range(10)) for n in range(2)})
    monkeypatch.setenv(ENDPOINT_VARIABLE, receiver.endpoint)
    report = pytester.path / "report.json"
    result = pytester.runpytest_subprocess(*QUIET, "-n", "2", "--json-report", f"--json-report-file={report}")
    result.assert_outcomes(passed=20)
    spans = {span["name"]: span["trace_id"] for span in read_spans(tmp_path / "spans.jsonl")}
    assert {test["nodeid"]: test["metadata"]["trace_id"] for test in json.loads(report.read_text())["tests"]} == spans
    assert len(spans) == 20
