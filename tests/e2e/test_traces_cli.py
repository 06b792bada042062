"""Tests and contracts join the demo's traces (issue 16): each test's span and trace id, the instrumented shop's spans in
that trace (orders -> catalog over HTTP, orders -> shipping through the bus), each pact job's trace id on its provider's
spans, on the embedded log and on RabbitMQ; OTEL_SDK_DISABLED=true silences one service and only that one."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from .conftest import Finished, Shop

pytestmark = pytest.mark.e2e
PLACE_ORDER = "tests/test_checkout.py::test_place_order"


def spans_of(artifacts: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (artifacts / "logs" / "otlp-spans.jsonl").read_text("utf-8").splitlines()]


def trace_ids(artifacts: Path) -> dict[str, str]:
    report = json.loads((artifacts / "test-execution-report.json").read_text("utf-8"))
    return {test["nodeid"]: test["trace_id"] for test in report["tests"]}


def assert_place_order_crosses_the_shop(artifacts: Path, messaging: str) -> None:
    """test_place_order's trace: orders' client span to catalog's server span, orders' producer to shipping's consumer."""
    spans = spans_of(artifacts)
    trace = trace_ids(artifacts)[PLACE_ORDER]
    mine = {span["span_id"]: span for span in spans if span["trace_id"] == trace}
    parent = {span["span_id"]: mine.get(span["parent_span_id"] or "") for span in mine.values()}
    edges = Counter((p["service"], p["kind"], s["service"], s["kind"]) for sid, s in mine.items() if (p := parent[sid]) is not None)
    assert edges[("interlock-tests", "internal", "orders", "server")] == 1, edges
    assert edges[("orders", "client", "catalog", "server")] == 1, edges
    assert edges[("orders", "producer", "shipping", "consumer")] == 1, edges
    [producer] = [s for s in mine.values() if s["kind"] == "producer"]
    assert producer["attributes"]["messaging.destination.name"] == "order.created"
    assert producer["attributes"]["messaging.system"] == messaging
    [order] = [s for s in mine.values() if s["service"] == "orders" and s["kind"] == "server"]
    assert (order["name"], order["attributes"]["http.route"]) == ("POST /orders", "/orders")


def test_every_test_has_a_span_and_place_order_crosses_orders_catalog_and_shipping(passed_run: Finished) -> None:
    artifacts = passed_run.shop.artifacts
    spans = spans_of(artifacts)
    assert {"catalog", "orders", "shipping", "interlock-tests"} <= {span["service"] for span in spans}
    tests = {span["attributes"]["interlock.test.nodeid"]: span for span in spans if span["service"] == "interlock-tests"}
    assert {nodeid: span["trace_id"] for nodeid, span in tests.items()} == trace_ids(artifacts)
    assert_place_order_crosses_the_shop(artifacts, "embedded-log")
    probes = [s for s in spans if s["attributes"].get("url.path") in ("/health", "/metrics")]
    assert probes == []  # the supervisor's probes and the metric scrapes are not traffic


def test_each_pact_job_sends_its_trace_to_the_provider(passed_run: Finished) -> None:
    artifacts = passed_run.shop.artifacts
    results = json.loads((artifacts / "contract-validation-results.json").read_text("utf-8"))
    pacts = {c["id"]: c for c in results["contracts"] if c["kind"].startswith("pact")}
    record = pacts["pact:orders->catalog"]
    assert record["job"] == "catalog-http" and all(i["trace_id"] == record["trace_id"] for i in record["interactions"])
    served = [s for s in spans_of(artifacts) if s["trace_id"] == record["trace_id"]]
    assert {(s["service"], s["kind"], s["name"]) for s in served} >= {("catalog", "server", "GET /products/{id}")}


def test_production_like_traces_cross_rabbitmq(production_like: Shop) -> None:
    result = production_like.interlock("test", "--env", "production-like", "--yes")
    assert result.code == 0, result.output
    assert_place_order_crosses_the_shop(production_like.artifacts, "rabbitmq")


def test_otel_sdk_disabled_silences_that_service_only(shop: Shop) -> None:
    shop.edit("interlock.toml", 'env = { PORT = "{port:catalog}" }', 'env = { PORT = "{port:catalog}", OTEL_SDK_DISABLED = "true" }')
    result = shop.interlock("test", "--yes")
    assert result.code == 0, result.output
    counters = json.loads((shop.artifacts / "logs" / "otlp-receiver.json").read_text("utf-8"))
    sent = {name: numbers["spans"] for name, numbers in counters["by_service"].items()}
    assert sent.get("catalog", 0) == 0 and sent["orders"] > 0 and sent["shipping"] > 0 and sent["interlock-tests"] > 0, sent
    assert "catalog" not in {span["service"] for span in spans_of(shop.artifacts)}
