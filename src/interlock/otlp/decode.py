"""Decoding OTLP export requests and writing their responses, with opentelemetry-proto.

Apart from the receiver (`interlock.otlp.receiver`) so that protobuf is imported
with the first request a receiver takes, not before the suite starts: its import
alone is about 0.3 s of every traced run.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1 import trace_pb2

from interlock.otlp import JSON, PROTOBUF, Rejected
from interlock.otlp.spans import UNKNOWN_SERVICE, AttributeValue, Span
from interlock.statuses import SpanKind, SpanStatus

_KIND = {0: SpanKind.UNSPECIFIED, 1: SpanKind.INTERNAL, 2: SpanKind.SERVER, 3: SpanKind.CLIENT, 4: SpanKind.PRODUCER, 5: SpanKind.CONSUMER}
_STATUS = {0: SpanStatus.UNSET, 1: SpanStatus.OK, 2: SpanStatus.ERROR}
_REQUESTS: dict[str, type[Message]] = {
    "traces": trace_service_pb2.ExportTraceServiceRequest,
    "metrics": metrics_service_pb2.ExportMetricsServiceRequest,
    "logs": logs_service_pb2.ExportLogsServiceRequest,
}
_TOP_KEYS = {"traces": ("resourceSpans", "resource_spans"), "metrics": ("resourceMetrics", "resource_metrics"),
             "logs": ("resourceLogs", "resource_logs")}
#: OTLP JSON writes these byte fields as hex (the protobuf JSON mapping would want base64).
_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})
_HEX = re.compile(r"^(?:[0-9a-fA-F]{2})*$")


def _hex_ids(value: Any) -> Any:
    """OTLP JSON's hex trace and span ids as the base64 protobuf's JSON parser reads; anything else as it is."""
    if isinstance(value, dict):
        return {k: (base64.b64encode(bytes.fromhex(v)).decode("ascii") if k in _ID_KEYS and isinstance(v, str) and _HEX.match(v) else _hex_ids(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_hex_ids(v) for v in value]
    return value


def decode(signal: str, content_type: str, body: bytes) -> Message:
    """The export request of `signal` in `body` (protobuf or OTLP JSON); Rejected 400/415 when it is not one."""
    message = _REQUESTS[signal]()
    media = content_type.split(";")[0].strip().lower()
    if media == PROTOBUF:
        try:
            message.ParseFromString(body)
        except (DecodeError, ValueError, RuntimeError) as exc:
            raise Rejected(400, f"not an OTLP {signal} export request in protobuf: {exc}") from None
        if len(UnknownFieldSet(message)):
            raise Rejected(400, f"not an OTLP {signal} export request in protobuf: fields it does not define")
        return message
    if media == JSON:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise Rejected(400, f"not JSON: {exc}") from None
        if not isinstance(data, dict) or (data and not any(k in data for k in _TOP_KEYS[signal])):
            raise Rejected(400, f"not an OTLP {signal} export request in JSON: expected an object with {_TOP_KEYS[signal][0]}")
        try:
            json_format.ParseDict(_hex_ids(data), message, ignore_unknown_fields=True)
        except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
            raise Rejected(400, f"not an OTLP {signal} export request in JSON: {exc}") from None
        return message
    raise Rejected(415, f"content type {content_type or 'none'!r}: OTLP/HTTP is {PROTOBUF} or {JSON}")


def _value(value: AnyValue) -> AttributeValue:
    """An OTLP AnyValue as a span line keeps it: scalars as they are, arrays of scalars as lists, anything deeper as JSON text."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "bool_value":
        return value.bool_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        return value.double_value
    if which == "bytes_value":
        return value.bytes_value.hex()
    if which == "array_value":
        items = [_value(v) for v in value.array_value.values]
        if all(not isinstance(i, list) for i in items):
            return [i for i in items if not isinstance(i, list)]
        return json.dumps(items)
    if which == "kvlist_value":
        return json.dumps({kv.key: _value(kv.value) for kv in value.kvlist_value.values})
    return ""


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, AttributeValue]:
    return {kv.key: _value(kv.value) for kv in pairs}


def service_of(resource: Resource) -> str:
    """The resource's `service.name`, or "unknown"."""
    for kv in resource.attributes:
        if kv.key == "service.name" and kv.value.WhichOneof("value") == "string_value" and kv.value.string_value:
            return kv.value.string_value
    return UNKNOWN_SERVICE


def _id(raw: bytes, size: int, what: str) -> str:
    if len(raw) != size or not any(raw):
        raise Rejected(400, f"a span's {what} is {len(raw)} bytes{' of zeros' if len(raw) == size else ''}, not a valid {size}-byte id")
    return raw.hex()


def spans_of(request: trace_service_pb2.ExportTraceServiceRequest) -> list[Span]:
    """Every span of an export request as a span line; Rejected 400 when a span's ids are not valid."""
    found: list[Span] = []
    for resource_spans in request.resource_spans:
        service = service_of(resource_spans.resource)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                found.append(_span(service, span))
    return found


def _span(service: str, span: trace_pb2.Span) -> Span:
    return Span(
        trace_id=_id(span.trace_id, 16, "trace id"), span_id=_id(span.span_id, 8, "span id"),
        parent_span_id=_id(span.parent_span_id, 8, "parent span id") if span.parent_span_id else None,
        service=service, name=span.name, kind=_KIND.get(span.kind, SpanKind.UNSPECIFIED).value,
        status=_STATUS.get(span.status.code, SpanStatus.UNSET).value,
        start_ns=span.start_time_unix_nano, end_ns=span.end_time_unix_nano, attributes=_attributes(span.attributes),
    )


def _data_points(request: metrics_service_pb2.ExportMetricsServiceRequest) -> dict[str, int]:
    """Data points per service of a metrics export request."""
    counts: dict[str, int] = {}
    for resource_metrics in request.resource_metrics:
        service = service_of(resource_metrics.resource)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                which = metric.WhichOneof("data")
                points = len(getattr(metric, which).data_points) if which else 0
                counts[service] = counts.get(service, 0) + points
    return counts


def _log_records(request: logs_service_pb2.ExportLogsServiceRequest) -> dict[str, int]:
    """Log records per service of a logs export request."""
    counts: dict[str, int] = {}
    for resource_logs in request.resource_logs:
        service = service_of(resource_logs.resource)
        counts[service] = counts.get(service, 0) + sum(len(s.log_records) for s in resource_logs.scope_logs)
    return counts


def response(signal: str, media: str, rejected: int, message: str) -> bytes:
    """The export response: empty, or a partial success naming how many items were not kept and why."""
    if signal == "traces":
        response: Message = trace_service_pb2.ExportTraceServiceResponse()
        if rejected:
            response.partial_success.rejected_spans = rejected  # type: ignore[attr-defined]
            response.partial_success.error_message = message  # type: ignore[attr-defined]
    elif signal == "metrics":
        response = metrics_service_pb2.ExportMetricsServiceResponse()
    else:
        response = logs_service_pb2.ExportLogsServiceResponse()
    if media == JSON:
        return json.dumps(json_format.MessageToDict(response)).encode()
    return response.SerializeToString()


def read_request(signal: str, content_type: str, body: bytes) -> tuple[list[Span] | None, dict[str, int]]:
    """An export request's span lines (traces), or its data points / log records per service (metrics, logs)."""
    request = decode(signal, content_type, body)
    if isinstance(request, trace_service_pb2.ExportTraceServiceRequest):
        return spans_of(request), {}
    if isinstance(request, metrics_service_pb2.ExportMetricsServiceRequest):
        return None, _data_points(request)
    assert isinstance(request, logs_service_pb2.ExportLogsServiceRequest)
    return None, _log_records(request)
