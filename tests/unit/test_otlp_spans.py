"""The span file's one reader (interlock.otlp.spans): every line a span, or a clear error naming the line; nothing skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interlock.otlp.spans import SpanFileError, read_spans

GOOD = {"trace_id": "5b8efff798038103d269b633813fc60c", "span_id": "eee19b7ec3c1b174", "parent_span_id": None, "service": "orders",
        "name": "POST /orders", "kind": "server", "status": "ok", "start_ns": 1, "end_ns": 2, "attributes": {"http.route": "/orders"}}


def write(path: Path, *lines: object) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines), "utf-8")
    return path


def test_every_line_is_read_back_in_order_and_a_missing_file_has_none(tmp_path: Path) -> None:
    child = {**GOOD, "span_id": "00000000000000ff", "parent_span_id": GOOD["span_id"], "kind": "client", "status": "error"}
    assert list(read_spans(write(tmp_path / "s.jsonl", GOOD, "", child))) == [GOOD, child]
    assert list(read_spans(tmp_path / "absent.jsonl")) == []


@pytest.mark.parametrize(("line", "problem"), [
    ("{truncated", "not JSON"),
    ([1, 2], "not a JSON object"),
    ({k: v for k, v in GOOD.items() if k != "service"}, "missing service"),
    ({**GOOD, "trace_id": "XYZ"}, "trace_id 'XYZ' is not 32 lower-case hex digits"),
    ({**GOOD, "parent_span_id": "12"}, "parent_span_id '12' is not 16"),
    ({**GOOD, "span_id": None}, "span_id None is not 16"),
    ({**GOOD, "kind": "SERVER"}, "kind 'SERVER' is not one of internal"),
    ({**GOOD, "status": "fine"}, "status 'fine' is not one of unset, ok, error"),
    ({**GOOD, "kind": ["server"]}, "kind \\['server'\\] is not one of internal"),
    ({**GOOD, "status": {"code": 1}}, "status \\{'code': 1\\} is not one of unset"),
    ({**GOOD, "start_ns": "1"}, "start_ns is not an integer"),
    ({**GOOD, "attributes": []}, "attributes is not an object"),
])
def test_a_bad_line_raises_naming_the_file_the_line_and_the_problem(tmp_path: Path, line: object, problem: str) -> None:
    path = write(tmp_path / "s.jsonl", GOOD, line, GOOD)
    spans = read_spans(path)
    assert next(spans) == GOOD
    with pytest.raises(SpanFileError, match=f"s.jsonl:2: .*{problem}"):
        next(spans)


COUNTERS = {"endpoint": "http://127.0.0.1:4318", "forward": None, "requests": {"traces": 2, "metrics": 0, "logs": 0},
            "rejected": {"malformed": 1, "too_large": 0}, "dropped_spans": 0, "forward_failures": 0,
            "by_service": {"orders": {"spans": 3, "metrics": 0, "logs": 0, "dropped": 0, "rejected": 1}}}


@pytest.mark.parametrize(("change", "problem"), [
    ({"requests": {"traces": 2}}, "requests does not count traces, metrics, logs"),
    ({"dropped_spans": -1}, "dropped_spans or forward_failures is not a count"),
    ({"by_service": {"orders": {"spans": True}}}, "by_service.orders does not count spans"),
    ({"endpoint": None, "by_service": None}, "by_service is not an object"),
])
def test_the_counters_file_is_read_back_and_a_foreign_shape_is_refused(tmp_path: Path, change: dict, problem: str) -> None:
    from interlock.otlp.spans import read_counters

    path = tmp_path / "otlp-receiver.json"
    assert read_counters(path) is None  # no receiver ran
    path.write_text(json.dumps(COUNTERS), "utf-8")
    assert read_counters(path) == COUNTERS
    path.write_text(json.dumps({**COUNTERS, **change}), "utf-8")
    with pytest.raises(SpanFileError, match=f"otlp-receiver.json: not the OTLP receiver's counters: {problem}"):
        read_counters(path)
    path.write_text("{", "utf-8")
    with pytest.raises(SpanFileError, match="not JSON"):
        read_counters(path)
