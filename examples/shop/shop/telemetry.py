"""OpenTelemetry in the shop: each service's spans go over OTLP to whatever the
standard ``OTEL_*`` variables name (interlock sets them for the services it
starts, pointing at its own receiver).

* HTTP server spans: ``shop.web`` opens one per request (``SERVER``), as a
  child of the caller's W3C ``traceparent``; ``/health`` and ``/metrics`` are
  not traced (probes and scrapes are not traffic), nor is the SQL they run.
* HTTP client spans: opentelemetry-instrumentation-httpx (orders -> catalog),
  which also sends ``traceparent``.
* Database spans: opentelemetry-instrumentation-sqlalchemy on ``SHOP_DB_URL``'s
  engine (the bus's own engine is not traced: its polling is no traffic).
* Messages: ``producing`` opens the ``PRODUCER`` span and writes its context
  into the message headers; ``consuming`` reads it back, so the consumer's
  span is in the producer's trace, on the embedded log and on RabbitMQ alike.

Nothing is exported unless an OTLP endpoint is configured, and
``OTEL_SDK_DISABLED=true`` disables every span of the service (the tracers
are then no-ops and no header carries a trace).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from sqlalchemy import Engine

tracer = trace.get_tracer("shop")
UNTRACED_PATHS = ("/health", "/metrics")
_provider: TracerProvider | None = None


def enabled() -> bool:
    """Whether this process exports spans: an OTLP endpoint is set, the traces exporter is not ``none``, the SDK is not disabled."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def setup(service: str) -> None:
    """Install the SDK's tracer provider (service.name from ``OTEL_SERVICE_NAME``, else ``service``) and the httpx instrumentation."""
    global _provider
    if not enabled():
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    _provider = TracerProvider(resource=Resource.create({} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": service}))
    _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # endpoint, protocol, delay: the OTEL_* variables
    trace.set_tracer_provider(_provider)
    HTTPXClientInstrumentor().instrument(tracer_provider=_provider)


def instrument_engine(engine: Engine) -> None:
    """Database client spans for the service's own database (``db.system``, the statement, the database name)."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    # skip_dep_check: the instrumentation declares "sqlalchemy < 2.1" while the 2.1 it meets here keeps the engine events it
    # listens to (before/after_cursor_execute); without it nothing is instrumented, silently.
    SQLAlchemyInstrumentor().instrument(engine=engine, tracer_provider=_provider, skip_dep_check=True)


def shutdown() -> None:
    """Export what is still queued; called when the service stops."""
    if _provider is not None:
        _provider.shutdown()


def untraced() -> Any:
    """A block whose SQL and HTTP calls make no spans: the bus's own reads and writes are transport, not traffic."""
    return suppress_instrumentation()


@contextmanager
def server_span(method: str, path: str, headers: Any, port: int) -> Iterator[Span | None]:
    """The ``SERVER`` span of one request, child of the caller's ``traceparent``; None (and nothing traced) for probes and scrapes."""
    if path in UNTRACED_PATHS:
        with suppress_instrumentation():
            yield None
        return
    attributes = {"http.request.method": method, "url.path": path, "url.scheme": "http", "server.address": "127.0.0.1", "server.port": port}
    with tracer.start_as_current_span(method, context=propagate.extract(headers), kind=SpanKind.SERVER, attributes=attributes) as span:
        yield span


def end_server_span(span: Span | None, method: str, route: str, status: int) -> None:
    """Name the span after its route (``POST /orders``) once the router knows it; a 5xx is an error."""
    if span is None:
        return
    if route != "unmatched":
        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))


@contextmanager
def producing(system: str, topic: str, headers: MutableMapping[str, str]) -> Iterator[None]:
    """The ``PRODUCER`` span of one publish; its trace context goes into ``headers`` (W3C ``traceparent``)."""
    attributes = {"messaging.system": system, "messaging.destination.name": topic, "messaging.operation.type": "publish"}
    with tracer.start_as_current_span(f"publish {topic}", kind=SpanKind.PRODUCER, attributes=attributes):
        propagate.inject(headers)
        yield


@contextmanager
def consuming(system: str, topic: str, message_id: str, headers: Mapping[str, Any]) -> Iterator[None]:
    """The ``CONSUMER`` span that processes one message, in the trace its headers carry."""
    carrier = {k: v for k, v in headers.items() if isinstance(v, str)}
    attributes = {"messaging.system": system, "messaging.destination.name": topic, "messaging.operation.type": "process",
                  "messaging.message.id": message_id}
    with tracer.start_as_current_span(f"process {topic}", context=propagate.extract(carrier), kind=SpanKind.CONSUMER, attributes=attributes):
        yield
