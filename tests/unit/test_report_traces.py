"""The HTML report with trace evidence (issue 16): observed calls beside the declared dependencies, an undeclared
call drawn as its own edge, and every scope matrix row marked observed or not observed in real traffic."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from interlock.artifacts import SCOPE_MATRIX, TRACE_EVIDENCE, ArtifactDir
from interlock.errors import UsageError
from interlock.phases.scope import mark_traffic
from interlock.report import build_model, render
from tests.sample import write_sample
from tests.unit.test_phases_phase4 import trace_evidence

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
PLACE = "tests/test_shop.py::test_place_order"


def _evidence() -> dict[str, Any]:
    """The traces of test_place_order: orders calls catalog (declared), publishes to the bus, shipping consumes
    (declared the other way: shipping depends on orders' message), and orders calls shipping over HTTP (declared nowhere)."""
    evidence = trace_evidence(("shipping:GET /health", "orders"))
    evidence["tests"].append({"nodeid": PLACE, "trace_id": "cd" * 16, "services": ["orders", "catalog", "shipping"],
                              "interfaces": ["orders:POST /orders", "catalog:GET /products/{id}", "orders:publish order.created"],
                              "calls": [{"from": "interlock-tests", "to": "orders", "kind": "http", "target": "POST /orders"},
                                        {"from": "orders", "to": "catalog", "kind": "http", "target": "GET /products/{id}"},
                                        {"from": "orders", "to": "bus", "kind": "messaging", "target": "order.created"},
                                        {"from": "orders", "to": "shipping", "kind": "messaging", "target": "order.created"},
                                        {"from": "orders", "to": "shipping", "kind": "http", "target": "GET /health"},
                                        {"from": "pact-verifier", "to": "orders", "kind": "http", "target": "POST /orders"}]})
    evidence["interfaces"] = [{"id": i, "observed": True, "by": [PLACE]} for i in ("orders:POST /orders", "catalog:GET /products/{id}", "orders:publish order.created")]
    evidence["interfaces"].append({"id": "orders:GET /orders/{id}", "observed": False, "by": []})
    return evidence


def _record(folder: Path, evidence: dict[str, Any]) -> Path:
    """What step 3.1 leaves: the trace evidence, and the scope matrix marked from it by the one function that marks it."""
    artifacts = ArtifactDir(folder)
    artifacts.write_json(TRACE_EVIDENCE, evidence)
    matrix = json.loads(artifacts.path(SCOPE_MATRIX).read_text())
    mark_traffic(matrix, evidence)
    artifacts.write_json(SCOPE_MATRIX, matrix)
    return folder


@pytest.fixture
def traced(tmp_path: Path) -> Path:
    return _record(write_sample(tmp_path / "run", run_id="run-traced", tests=8, started_at=NOW), _evidence())


def test_declared_dependencies_say_whether_traffic_crossed_them(traced: Path) -> None:
    edges = {(e["consumer"], e["provider"]): e for e in build_model(None, traced)["graph"]["edges"]}
    assert edges[("orders", "catalog")]["observed"] == 1 and edges[("orders", "catalog")]["status"] == "pass"  # the contract verdict stays
    assert edges[("shipping", "orders")]["observed"] == 1  # the message, producer to consumer, crosses the consumer's dependency
    assert edges[("orders", "bus")]["observed"] == 1
    assert edges[("catalog", "shopdb")]["observed"] == 0
    undeclared = edges[("orders", "shipping")]
    assert undeclared["status"] == "observed" and undeclared["interfaces"] == ["GET /health"] and undeclared["via"] == "http"
    assert ("pact-verifier", "orders") not in edges and ("interlock-tests", "orders") not in edges


def test_the_page_draws_observed_calls_beside_declared_ones(traced: Path) -> None:
    html = render(None, traced, now=NOW)
    assert 'data-edge="orders->shipping" data-status="observed" data-observed="yes"' in html
    assert 'data-edge="catalog->shopdb" data-status="pass" data-observed="no"' in html
    assert "traced, undeclared" in html and "not traced" in html
    assert 'id="declared-dependencies"' in html and 'id="observed-calls"' in html
    calls = html.split('id="observed-calls"', 1)[1].split("</table>", 1)[0]
    rows = [(row.split('"', 1)[0], row) for row in calls.split('data-call="')[1:]]
    declared = {(pair, row.split("<code>", 1)[1].split("</code>", 1)[0]): row.rsplit("<td>", 1)[1] for pair, row in rows}
    assert declared[("orders->catalog", "GET /products/{id}")].startswith("yes")
    assert declared[("orders->shipping", "order.created")].startswith("yes")  # the message crosses shipping's dependency on orders
    assert 'b-fail">no' in declared[("orders->shipping", "GET /health")]
    assert "n/a" in declared[("pact-verifier->orders", "POST /orders")] and "n/a" in declared[("interlock-tests->orders", "POST /orders")]
    assert "<code>shipping:GET /health</code> (from orders" in html


def _traffic_cells(html: str) -> list[tuple[str, str]]:
    """Each matrix row's data-traffic and the text of its traffic cell."""
    matrix = html.split('id="coverage-matrix"', 1)[1].split("</table>", 1)[0]
    assert "<th>traffic</th>" in matrix
    return [(row.split('"', 1)[0], row.rsplit('">', 1)[1].split("</td>", 1)[0]) for row in matrix.split('data-traffic="')[1:]]


def test_matrix_rows_show_the_matrixs_own_traffic_marks(traced: Path) -> None:
    rows = {r["id"]: r for r in build_model(None, traced)["matrix"]["rows"]}
    assert rows["catalog:GET /products/{id}"]["traffic"] == "observed" and rows["catalog:GET /products/{id}"]["observed_by"] == [PLACE]
    assert rows["orders:GET /orders/{id}"]["traffic"] == "not_observed"
    assert rows["shopdb:table products"]["traffic"] == "pending"  # not in the evidence at all: undecided, never "not observed"
    cells = _traffic_cells(render(None, traced, now=NOW))
    assert [status for status, _ in cells] == [r["traffic"] for r in rows.values()]
    assert {status: text for status, text in cells} == {"observed": "observed", "not_observed": "not observed", "pending": "pending"}


def test_without_trace_evidence_nothing_claims_observed_or_not(tmp_path: Path) -> None:
    folder = write_sample(tmp_path / "run", run_id="run-plain", tests=8, started_at=NOW)
    model = build_model(None, folder)
    assert all(e["observed"] is None for e in model["graph"]["edges"]) and {r["traffic"] for r in model["matrix"]["rows"]} == {"pending"}
    html = render(None, folder, now=NOW)
    assert "data-observed" not in html and {status for status, _ in _traffic_cells(html)} == {"pending"}
    assert "No <code>trace-evidence.json</code>" in html


def test_with_the_receiver_off_the_page_says_no_call_was_observed(tmp_path: Path) -> None:
    evidence = trace_evidence(receiver=False)
    evidence["interfaces"].append({"id": "orders:GET /orders/{id}", "observed": False, "by": []})
    folder = _record(write_sample(tmp_path / "run", run_id="run-off", tests=8, started_at=NOW), evidence)
    html = render(None, folder, now=NOW)
    assert "The OTLP receiver was off: no call was observed." in html
    rows = {r["id"]: r["traffic"] for r in build_model(None, folder)["matrix"]["rows"]}
    assert rows["orders:GET /orders/{id}"] == "unknown"  # no receiver listened: its silence proves nothing
    assert "not_observed" not in {status for status, _ in _traffic_cells(html)}


def test_a_garbage_trace_evidence_is_named_not_drawn(tmp_path: Path) -> None:
    folder = write_sample(tmp_path / "run", run_id="run-bad", tests=8, started_at=NOW)
    (folder / TRACE_EVIDENCE.filename).write_text(json.dumps({"schema_version": 1}))
    with pytest.raises(UsageError, match=TRACE_EVIDENCE.filename):
        build_model(None, folder)
