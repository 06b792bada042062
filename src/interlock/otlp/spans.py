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


class SpanFileError(ValueError):
    """A line of the span file that is not a span: the file, the line number and what is wrong."""


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
    if line["kind"] not in set(SpanKind):
        return f"kind {line['kind']!r} is not one of {', '.join(SpanKind)}"
    if line["status"] not in set(SpanStatus):
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
