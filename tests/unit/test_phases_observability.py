"""Step 2.3 writes its readiness twice from the same rows: Markdown for people, JSON for the steps that read it."""

from __future__ import annotations

from interlock.artifacts import validation_errors
from interlock.phases.observability import Readiness, data, render


def test_the_readiness_data_and_its_markdown_come_from_the_same_rows() -> None:
    rows = [Readiness("catalog", "captured: logs/service-catalog.log (3 lines)", "12 metric families at http://x/metrics", "not instrumented: no trace endpoint configured"),
            Readiness("orders", "captured: logs/service-orders.log (1 lines)", "missing: http://y/metrics answered 404", "OTLP spans received")]
    document = data(rows, "integration", "2026-11-26T12:00:00Z")
    assert validation_errors("observability-readiness", document) == []
    assert [(r["service"], r["ready"]) for r in document["services"]] == [("catalog", False), ("orders", False)]
    assert document["gaps"] == ["catalog", "orders"]
    text = render(rows, "integration", "2026-11-26T12:00:00Z")
    assert "recorded 2026-11-26T12:00:00Z" in text and "| `orders` | captured: logs/service-orders.log (1 lines) | missing: http://y/metrics answered 404 |" in text
