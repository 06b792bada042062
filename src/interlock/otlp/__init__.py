"""The built-in OTLP receiver and what reads its spans (issue 16).

This module stays light (the CLI imports the supervisor, which imports it):
the environment interlock gives the processes that report to the receiver.
`interlock.otlp.receiver` (protobuf, opentelemetry-proto) is imported only
where a receiver starts; `interlock.otlp.spans` reads the span file.
"""

from __future__ import annotations

#: OTLP/HTTP's two encodings and its three signals (their paths are /v1/<signal>).
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
SIGNALS = ("traces", "metrics", "logs")

#: The header interlock's OTEL_EXPORTER_OTLP_HEADERS adds to every export of a service it starts: who sent a refused payload.
SENDER_HEADER = "x-interlock-service"
#: The resource service.name of the pytest plugin's spans (one per test); it keeps its own share of max_spans.
TESTS_SERVICE = "interlock-tests"


def otel_environment(endpoint: str, service: str, batch_delay_ms: int) -> dict[str, str]:
    """The OpenTelemetry SDK variables interlock gives a service it starts (the service's own `env` wins over each)."""
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_HEADERS": f"{SENDER_HEADER}={service}",
        "OTEL_SERVICE_NAME": service,
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_BSP_SCHEDULE_DELAY": str(batch_delay_ms),
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
    }


def suite_environment(endpoint: str) -> dict[str, str]:
    """What the pytest child gets: INTERLOCK_OTLP_ENDPOINT (the plugin's switch) and the exporter's endpoint and protocol."""
    return {"INTERLOCK_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}


class Rejected(Exception):
    """A request the receiver refuses: the HTTP status and why (sent back as the body)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason
