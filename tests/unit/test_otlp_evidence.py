"""Trace evidence: the calls a test's trace crossed, interfaces observed, undeclared dependencies, proven scenarios.

The spans are shaped as the receiver writes them from the demo's instrumentation (FastAPI server spans with
`http.route`, httpx client spans, a producer/consumer pair through the bus, a SQLite client span).
"""

from __future__ import annotations

import itertools
from typing import Any

from interlock.artifacts import validation_errors
from interlock.otlp.evidence import PACT_VERIFIER, TESTS_SERVICE, Declared, Traced, build, traces_text
from interlock.otlp.spans import ReceiverCounters, Span
from interlock.phases.scope import match_template
from interlock.statuses import SpanKind, SpanStatus, TestOutcome

AT = "2026-12-04T12:00:00Z"
RECEIVER: ReceiverCounters = {"endpoint": "http://127.0.0.1:4318", "forward": None, "requests": {"traces": 3, "metrics": 0, "logs": 0},
                              "rejected": {"malformed": 0, "too_large": 0}, "dropped_spans": 0, "forward_failures": 0,
                              "by_service": {"orders": {"spans": 4, "metrics": 0, "logs": 0, "dropped": 0, "rejected": 0}}}
PLACE = "tests/test_checkout.py::test_place_order"
BROWSE = "tests/test_catalog.py::test_list_products"
_ids = itertools.count(1)


def _interface(service: str, kind: str, operation: str, *checks: tuple[str, str]) -> dict[str, Any]:
    return {"id": f"{service}:{operation}", "service": service, "kind": kind, "operation": operation, "source": "contracts",
            "features": [], "checks": [{"kind": k, "ref": r} for k, r in checks]}


INTERFACES = [
    _interface("catalog", "http", "GET /products", ("openapi", "openapi catalog.yaml")),
    _interface("catalog", "http", "GET /products/{id}", ("openapi", "openapi catalog.yaml"), ("pact", "orders-catalog#get product")),
    _interface("catalog", "http", "GET /health", ("environment", "catalog health probe (step 1.2)")),
    _interface("orders", "http", "POST /orders", ("openapi", "openapi orders.yaml")),
    _interface("orders", "http", "GET /orders/{id}", ("openapi", "openapi orders.yaml")),
    _interface("orders", "message", "publish order.created", ("asyncapi", "asyncapi orders-events.yaml")),
    _interface("shopdb", "table", "table orders", ("test", PLACE)),
]
FEATURES = [
    {"id": "F-1", "title": "Browse catalog", "interfaces": ["catalog:GET /products", "catalog:GET /products/{id}"]},
    {"id": "F-2", "title": "Place order", "interfaces": ["orders:POST /orders", "catalog:GET /products/{id}"]},
    {"id": "F-3", "title": "Ship order", "interfaces": ["orders:publish order.created"]},
]
DECLARED = Declared(
    services={"catalog": ["shopdb"], "orders": ["catalog", "shopdb", "bus"], "shipping": ["shopdb", "bus"]},
    stores={"shopdb": "sqlite"}, brokers={"bus": "embedded-log"}, interfaces=INTERFACES,
    dependencies=frozenset({("orders", "catalog")}), features=FEATURES, traces_required=frozenset({"orders"}),
    urls={"catalog": "http://127.0.0.1:8001", "orders": "http://127.0.0.1:8002", "shipping": "http://127.0.0.1:8003"},
)


def span(trace: str, service: str, kind: SpanKind, parent: Span | None = None, status: SpanStatus = SpanStatus.UNSET, **attributes: Any) -> Span:
    return {"trace_id": trace * 32 if len(trace) == 1 else trace, "span_id": f"{next(_ids):016x}", "parent_span_id": parent["span_id"] if parent else None,
            "service": service, "name": str(attributes.get("http.route", kind)), "kind": kind, "status": status,
            "start_ns": 1, "end_ns": 2, "attributes": attributes}


def place_order_trace(trace: str = "a", *, publish: bool = True) -> list[Span]:
    """test_place_order: the test's span, orders' POST /orders, orders → catalog over HTTP, the insert, the message to shipping."""
    test = span(trace, TESTS_SERVICE, SpanKind.INTERNAL, **{"interlock.test.nodeid": PLACE})
    post = span(trace, "orders", SpanKind.SERVER, test, **{"http.request.method": "POST", "http.route": "/orders", "url.path": "/orders"})
    client = span(trace, "orders", SpanKind.CLIENT, post, **{"http.request.method": "GET", "url.full": "http://127.0.0.1:8001/products/7"})
    get = span(trace, "catalog", SpanKind.SERVER, client, **{"http.request.method": "GET", "http.route": "/products/{product_id}"})
    insert = span(trace, "orders", SpanKind.CLIENT, post, **{"db.system": "sqlite", "db.statement": "INSERT INTO orders (sku, qty) VALUES (?, ?)"})
    spans = [test, post, client, get, insert]
    if publish:
        produce = span(trace, "orders", SpanKind.PRODUCER, post, **{"messaging.system": "embedded-log", "messaging.destination.name": "order.created"})
        consume = span(trace, "shipping", SpanKind.CONSUMER, produce, **{"messaging.destination.name": "order.created"})
        spans += [produce, consume]
    return spans


def health_probe(trace: str) -> Span:
    """interlock's own health probe: no traceparent, so a root server span."""
    return span(trace, "catalog", SpanKind.SERVER, **{"http.request.method": "GET", "http.route": "/health"})


def traced(trace: str | None = "a" * 32, outcome: TestOutcome = TestOutcome.PASSED) -> list[Traced]:
    return [Traced(PLACE, trace, ("orders:POST /orders", "catalog:GET /products/{id}", "shopdb:table orders"), True, outcome),
            Traced(BROWSE, None, ("catalog:GET /products",), False, TestOutcome.PASSED)]


def evidence(spans: list[Span], items: list[Traced] | None = None, jobs: list[Traced] | None = None) -> dict[str, Any]:
    document = build(spans, DECLARED, traced() if items is None else items, jobs or [], match_template,
                     environment="integration", generated_at=AT, receiver=RECEIVER)
    assert validation_errors("trace-evidence", document) == []
    return document


def test_the_place_order_trace_crosses_orders_catalog_the_database_and_shipping() -> None:
    document = evidence([*place_order_trace(), health_probe("b")])
    place = document["tests"][0]
    assert place["nodeid"] == PLACE and place["trace_id"] == "a" * 32
    assert place["services"] == ["catalog", "orders", "shipping"]
    assert place["interfaces"] == ["catalog:GET /products/{id}", "orders:POST /orders", "orders:publish order.created", "shopdb:table orders"]
    assert {(c["from"], c["to"], c["kind"], c["target"]) for c in place["calls"]} == {
        (TESTS_SERVICE, "orders", "http", "POST /orders"), ("orders", "catalog", "http", "GET /products/{id}"),
        ("orders", "shopdb", "db", "shopdb"), ("orders", "bus", "messaging", "order.created"), ("orders", "shipping", "messaging", "order.created")}
    observed = {i["id"]: (i["observed"], i["by"]) for i in document["interfaces"]}
    assert observed["catalog:GET /products/{id}"] == (True, [PLACE])
    assert observed["catalog:GET /health"] == (True, [])  # seen in traffic, by no test
    assert observed["catalog:GET /products"] == (False, []) and observed["orders:GET /orders/{id}"] == (False, [])
    assert document["undeclared"] == []  # the health probe is interlock's own traffic, never a finding


def test_services_are_counted_by_kind_and_status_and_a_silent_one_says_zero() -> None:
    spans = place_order_trace()
    spans[3]["status"] = SpanStatus.ERROR
    rows = {r["service"]: r for r in evidence(spans)["services"]}
    assert list(rows) == ["catalog", "orders", "shipping", TESTS_SERVICE]  # the declared ones first
    assert rows["orders"] == {"service": "orders", "spans": 4, "by_kind": {"server": 1, "client": 2, "producer": 1},
                              "by_status": {"unset": 4}, "traces_required": True}
    assert rows["catalog"]["by_status"] == {"error": 1}
    assert evidence([])["services"][0] == {"service": "catalog", "spans": 0, "by_kind": {}, "by_status": {}, "traces_required": False}


def test_a_scenario_is_proven_by_one_passing_test_whose_trace_crossed_every_interface() -> None:
    scenarios = {s["feature"]: s for s in evidence(place_order_trace())["scenarios"]}
    assert scenarios["F-2"] == {"feature": "F-2", "title": "Place order", "critical": True, "proven": True, "by": PLACE, "missing": []}
    # F-1's test has no trace, F-3's interface has no declaring test: both unproven, with what is missing
    assert (scenarios["F-1"]["proven"], scenarios["F-1"]["by"], scenarios["F-1"]["critical"]) == (False, None, True)
    assert scenarios["F-3"] == {"feature": "F-3", "title": "Ship order", "critical": False, "proven": False, "by": None,
                                "missing": ["orders:publish order.created"]}


def test_a_half_crossed_scenario_is_unproven_and_names_the_interface_missing() -> None:
    spans = place_order_trace()
    del spans[2:4]  # orders never called catalog
    f2 = next(s for s in evidence(spans)["scenarios"] if s["feature"] == "F-2")
    assert (f2["proven"], f2["by"], f2["missing"]) == (False, None, ["catalog:GET /products/{id}"])


def test_a_call_catalog_never_reported_counts_from_the_client_side_unless_it_failed() -> None:
    spans = place_order_trace()
    del spans[3]  # catalog sent no span: orders' client span still shows the call
    document = evidence(spans)
    assert ("orders", "catalog", "http", "GET /products/{id}") in {(c["from"], c["to"], c["kind"], c["target"]) for c in document["tests"][0]["calls"]}
    assert next(s for s in document["scenarios"] if s["feature"] == "F-2")["proven"]
    spans[2]["status"] = SpanStatus.ERROR  # refused: the request never crossed
    f2 = next(s for s in evidence(spans)["scenarios"] if s["feature"] == "F-2")
    assert (f2["proven"], f2["missing"]) == (False, ["catalog:GET /products/{id}"])


def test_a_failed_test_proves_nothing_even_when_its_trace_crossed_everything() -> None:
    document = evidence(place_order_trace(), traced(outcome=TestOutcome.FAILED))
    f2 = next(s for s in document["scenarios"] if s["feature"] == "F-2")
    assert (f2["proven"], f2["missing"]) == (False, ["orders:POST /orders", "catalog:GET /products/{id}"])
    assert document["tests"][0]["interfaces"]  # its trace is still recorded


def test_a_test_calling_an_interface_nothing_declares_is_an_undeclared_dependency() -> None:
    spans = place_order_trace()
    spans.append(span("a", "catalog", SpanKind.SERVER, spans[0], **{"http.request.method": "GET", "http.route": "/admin/stats"}))
    assert evidence(spans)["undeclared"] == [{"interface": "catalog:GET /admin/stats", "from": TESTS_SERVICE,
                                               "reason": "no contract or test declares catalog:GET /admin/stats", "seen_in": [PLACE]}]


def test_a_service_calling_a_service_it_does_not_declare_is_a_finding_even_outside_a_test() -> None:
    client = span("c", "shipping", SpanKind.CLIENT, **{"http.request.method": "GET", "url.full": "http://127.0.0.1:8001/products/3"})
    server = span("c", "catalog", SpanKind.SERVER, client, **{"http.request.method": "GET", "http.route": "/products/{id}"})
    assert evidence([client, server])["undeclared"] == [{"interface": "catalog:GET /products/{id}", "from": "shipping", "seen_in": [],
                                                         "reason": "shipping calls catalog, which neither its depends_on nor a pact names"}]


def test_an_unanswered_client_call_is_named_by_its_peer() -> None:
    test = span("d", TESTS_SERVICE, SpanKind.INTERNAL)
    client = span("d", "orders", SpanKind.CLIENT, test, **{"http.request.method": "POST", "url.full": "https://payments.example.com/charge?x=1"})
    items = [Traced(PLACE, "d" * 32, ("orders:POST /orders",), True, TestOutcome.PASSED)]
    document = evidence([test, client], items)
    assert document["tests"][0]["calls"] == [{"from": "orders", "to": "payments.example.com", "kind": "http", "target": "POST /charge"}]
    assert [u["interface"] for u in document["undeclared"]] == ["payments.example.com:POST /charge"]


def test_a_pact_job_trace_names_its_verifier_as_the_caller_and_counts_as_evidence() -> None:
    get = span("e", "catalog", SpanKind.SERVER, **{"http.request.method": "GET", "http.route": "/products/{id}"})
    other = span("e", "catalog", SpanKind.SERVER, **{"http.request.method": "DELETE", "http.route": "/products/{id}"})
    jobs = [Traced("orders-catalog", "e" * 32, ("catalog:GET /products/{id}",)), Traced("web-catalog", "e" * 32), Traced("web-orders", None)]
    document = evidence([get, other], [], jobs)
    assert document["pact_jobs"] == [{"job": "orders-catalog", "trace_id": "e" * 32, "services": ["catalog"],
                                      "interfaces": ["catalog:DELETE /products/{id}", "catalog:GET /products/{id}"]},
                                     {"job": "web-catalog", "trace_id": "e" * 32, "services": ["catalog"],
                                      "interfaces": ["catalog:DELETE /products/{id}", "catalog:GET /products/{id}"]},
                                     {"job": "web-orders", "trace_id": None, "services": [], "interfaces": []}]
    assert [(u["interface"], u["from"], u["seen_in"]) for u in document["undeclared"]] == [
        ("catalog:DELETE /products/{id}", PACT_VERIFIER, ["orders-catalog", "web-catalog"])]
    assert next(i for i in document["interfaces"] if i["id"] == "catalog:GET /products/{id}")["by"] == ["orders-catalog", "web-catalog"]


def test_a_test_without_a_reported_trace_id_takes_the_one_its_own_span_names() -> None:
    document = evidence(place_order_trace("f"), traced(trace=None))
    assert document["tests"][0]["trace_id"] == "f" * 32 and document["tests"][0]["interfaces"]
    assert document["tests"][1] == {"nodeid": BROWSE, "trace_id": None, "services": [], "interfaces": [], "calls": []}


def test_no_spans_prove_nothing() -> None:
    document = evidence([])
    assert not any(i["observed"] for i in document["interfaces"]) and not any(s["proven"] for s in document["scenarios"])
    assert document["undeclared"] == [] and all(t["calls"] == [] for t in document["tests"])


def test_the_traces_cell_says_what_was_received_or_why_nothing_was() -> None:
    from collections import Counter

    assert traces_text("orders", Counter({"server": 3, "client": 5, "producer": 1}), True) == "9 spans (client 5, server 3, producer 1)"
    assert traces_text("orders", Counter({"server": 1}), True) == "1 span (server 1)"
    assert traces_text("orders", None, True) == "missing: no spans received from orders"
    assert traces_text("orders", Counter(), True) == "missing: no spans received from orders"
    assert traces_text("orders", Counter({"server": 1}), False) == "not instrumented: the receiver is off ([observability] receiver)"


def test_the_schema_refuses_a_call_of_an_unknown_kind_and_a_bad_trace_id() -> None:
    document = evidence(place_order_trace())
    document["tests"][0]["calls"][0]["kind"] = "grpc"
    document["tests"][1]["trace_id"] = "not-hex"
    errors = validation_errors("trace-evidence", document)
    assert len(errors) == 2 and any("grpc" in e for e in errors) and any("not-hex" in e for e in errors)


def test_a_rabbitmq_message_is_named_by_its_routing_key_when_the_exchange_names_no_channel() -> None:
    spans = place_order_trace()
    for item in spans[-2:]:
        item["attributes"] = {"messaging.system": "rabbitmq", "messaging.destination.name": "shop.events",
                              "messaging.rabbitmq.destination.routing_key": "order.created"}
    place = evidence(spans)["tests"][0]
    assert "orders:publish order.created" in place["interfaces"]
    assert ("orders", "shipping", "messaging", "order.created") in {(c["from"], c["to"], c["kind"], c["target"]) for c in place["calls"]}
    spans[-2]["attributes"]["messaging.rabbitmq.destination.routing_key"] = "order.cancelled"  # no such channel: the exchange it went to
    assert "orders:publish shop.events" in evidence(spans)["tests"][0]["interfaces"]
