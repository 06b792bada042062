"""One received span as logs/otlp-spans.jsonl keeps it, and the one reader of that file.

The receiver writes a line per span; the evidence (step 3.1), the readiness
(2.3) and the gates read them back through `read_spans`, which fails on the
first bad line instead of skipping it: a span file that cannot be read is no
evidence that a trace crossed anything.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TypedDict

from interlock.otlp import SIGNALS
from interlock.statuses import SpanKind, SpanStatus

#: Attribute values as a span line keeps them (OTLP's AnyValue, flattened: a kvlist becomes its JSON text).
AttributeValue = str | int | float | bool | list[str | int | float | bool]
#: The resource `service.name` of spans that carry none.
UNKNOWN_SERVICE = "unknown"

_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
_SPAN_ID = re.compile(r"^[0-9a-f]{16}$")


class Span(TypedDict):
    """One span line: ids in lower-case hex, times in Unix nanoseconds, the resource's service.name as `service`."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    service: str
    name: str
    kind: str
    status: str
    start_ns: int
    end_ns: int
    attributes: dict[str, AttributeValue]


class ServiceCounts(TypedDict):
    """What one sender (a resource service.name, or the x-interlock-service header of a refused payload) sent:
    spans kept, metric data points, log records, spans dropped over its share of max_spans, payloads refused."""

    spans: int
    metrics: int
    logs: int
    dropped: int
    rejected: int


class _RequiredCounters(TypedDict):
    """logs/otlp-receiver.json: the receiver's endpoint and what it took in, refused, dropped and failed to forward.

    `requests` counts every POST per signal, refused ones included; `rejected` the refused ones (413: too_large,
    any other 4xx: malformed); `dropped_spans` spans not kept (over a sender's share, or not writable).
    """

    endpoint: str
    forward: str | None
    requests: dict[str, int]
    rejected: dict[str, int]
    dropped_spans: int
    forward_failures: int
    by_service: dict[str, ServiceCounts]


class ReceiverCounters(_RequiredCounters, total=False):
    """The counters with the run they belong to (files written before it was recorded lack it)."""

    run_id: str  # the run whose spans the span file holds: a new run starts both files afresh


class SpanFileError(ValueError):
    """A line of the span file that is not a span: the file, the line number and what is wrong."""


_KINDS, _STATUSES = frozenset(SpanKind), frozenset(SpanStatus)


def _problem(line: object) -> str | None:
    """What makes a parsed line no `Span`, or None."""
    if not isinstance(line, dict):
        return "not a JSON object"
    missing = [k for k in Span.__annotations__ if k not in line]
    if missing:
        return f"missing {', '.join(missing)}"
    if not isinstance(line["trace_id"], str) or not _TRACE_ID.match(line["trace_id"]):
        return f"trace_id {line['trace_id']!r} is not 32 lower-case hex digits"
    for key in ("span_id", "parent_span_id"):
        value = line[key]
        if (value is not None or key == "span_id") and (not isinstance(value, str) or not _SPAN_ID.match(value)):
            return f"{key} {value!r} is not 16 lower-case hex digits"
    for key in ("service", "name"):
        if not isinstance(line[key], str):
            return f"{key} is not a string"
    if not isinstance(line["kind"], str) or line["kind"] not in _KINDS:
        return f"kind {line['kind']!r} is not one of {', '.join(SpanKind)}"
    if not isinstance(line["status"], str) or line["status"] not in _STATUSES:
        return f"status {line['status']!r} is not one of {', '.join(SpanStatus)}"
    for key in ("start_ns", "end_ns"):
        if not isinstance(line[key], int) or isinstance(line[key], bool):
            return f"{key} is not an integer"
    if not isinstance(line["attributes"], dict):
        return "attributes is not an object"
    return None


def read_spans(path: Path) -> Iterator[Span]:
    """Every span of a span file, in the order received; a missing file has none, a bad line raises SpanFileError."""
    try:
        handle = path.open("r", encoding="utf-8")
    except FileNotFoundError:
        return
    with handle:
        for number, text in enumerate(handle, 1):
            if not text.strip():
                continue
            try:
                line = json.loads(text)
            except json.JSONDecodeError as exc:
                raise SpanFileError(f"{path}:{number}: not JSON ({exc.msg})") from None
            problem = _problem(line)
            if problem is not None:
                raise SpanFileError(f"{path}:{number}: not a span: {problem}")
            yield line


def _counts_problem(data: object) -> str | None:
    """What makes a parsed counters file no `ReceiverCounters`, or None."""
    if not isinstance(data, dict):
        return "not a JSON object"
    missing = [k for k in sorted(ReceiverCounters.__required_keys__) if k not in data]
    if missing:
        return f"missing {', '.join(missing)}"
    def count(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    for key, names in (("requests", SIGNALS), ("rejected", ("malformed", "too_large"))):
        if not isinstance(data[key], dict) or not all(count(data[key].get(n)) for n in names):
            return f"{key} does not count {', '.join(names)}"
    if not count(data["dropped_spans"]) or not count(data["forward_failures"]):
        return "dropped_spans or forward_failures is not a count"
    if not isinstance(data["by_service"], dict):
        return "by_service is not an object"
    for name, numbers in data["by_service"].items():
        if not isinstance(numbers, dict) or not all(count(numbers.get(k)) for k in ServiceCounts.__annotations__):
            return f"by_service.{name} does not count {', '.join(ServiceCounts.__annotations__)}"
    return None


def read_counters(path: Path) -> ReceiverCounters | None:
    """The receiver's counters file; None when no receiver ran (no file), SpanFileError when it is not the receiver's shape."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpanFileError(f"{path}: not JSON ({exc.msg})") from None
    problem = _counts_problem(data)
    if problem is not None:
        raise SpanFileError(f"{path}: not the OTLP receiver's counters: {problem}")
    counters: ReceiverCounters = data
    return counters
