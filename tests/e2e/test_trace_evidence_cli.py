"""What the demo's traces prove (issue 16 item 5): trace-evidence.json and the readiness read from the spans received.

The shared demo run: every service has spans, test_place_order's trace crosses orders -> catalog over HTTP and
orders -> shipping through the bus, Place order is proven by it; the message pact job's trigger joins the job's trace, so
its trace crosses orders, catalog and shipping too; a service silenced with OTEL_SDK_DISABLED and
declared `traces = "required"` is named in the readiness as sending nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import Finished, Shop

pytestmark = pytest.mark.e2e
PLACE_ORDER = "tests/test_checkout.py::test_place_order"
#: An interface of the demo's scope whose calls make no span (shop/telemetry.py UNTRACED_PATHS): no traced traffic crosses it.
SILENT = "orders:GET /health"


def _read(path: Any) -> Any:
    return json.loads(path.read_text("utf-8"))


def test_the_demo_evidence_names_the_calls_of_place_order_and_proves_its_scenario(passed_run: Finished) -> None:
    artifacts = passed_run.shop.artifacts
    evidence = _read(artifacts / "trace-evidence.json")
    spans = {row["service"]: row["spans"] for row in evidence["services"]}
    assert all(spans[name] > 0 for name in ("catalog", "orders", "shipping")), spans
    place = next(test for test in evidence["tests"] if test["nodeid"] == PLACE_ORDER)
    calls = {(c["from"], c["to"], c["kind"], c["target"]) for c in place["calls"]}
    assert {("interlock-tests", "orders", "http", "POST /orders"), ("orders", "catalog", "http", "GET /products/{id}"),
            ("orders", "bus", "messaging", "order.created"), ("orders", "shipping", "messaging", "order.created")} <= calls, calls
    assert {"orders:POST /orders", "catalog:GET /products/{id}", "orders:publish order.created"} <= set(place["interfaces"])
    scenarios = {s["feature"]: s for s in evidence["scenarios"]}
    assert scenarios["F-2"]["proven"] and scenarios["F-2"]["by"] is not None
    assert all(job["trace_id"] for job in evidence["pact_jobs"])
    message_job = next(job for job in evidence["pact_jobs"] if job["job"] == "orders-message")  # its trigger carries the job's trace
    assert {"orders", "catalog", "shipping"} <= set(message_job["services"]), message_job
    assert {"orders:POST /orders", "orders:publish order.created"} <= set(message_job["interfaces"]), message_job
    manifest = _read(artifacts / "integration-evidence-manifest.json")
    assert "trace-evidence.json" in {entry["path"] for entry in manifest["artifacts"]}
    readiness = {row["service"]: row for row in _read(artifacts / "observability-readiness.json")["services"]}
    assert all(readiness[name]["spans"] > 0 and readiness[name]["traces"].startswith(f"{readiness[name]['spans']} span")
               for name in ("catalog", "orders", "shipping")), readiness


def test_a_silenced_required_service_is_named_in_the_readiness(shop: Shop) -> None:
    shop.edit("interlock.toml", 'env = { PORT = "{port:shipping}" }', 'env = { PORT = "{port:shipping}", OTEL_SDK_DISABLED = "true" }')
    shop.edit("interlock.toml", '[services.shipping]\n', '[services.shipping]\ntraces = "required"\nmetrics = ["no_such_metric_total"]\n')
    result = shop.interlock("observe")
    assert result.code == 0, result.output
    row = next(r for r in _read(shop.artifacts / "observability-readiness.json")["services"] if r["service"] == "shipping")
    assert (row["traces"], row["spans"], row["traces_required"], row["ready"]) == ("missing: no spans received from shipping", 0, True, False)
    assert row["metrics_missing"] == ["no_such_metric_total"] and row["metrics"].startswith("missing: no_such_metric_total")


def test_the_demo_scope_matrix_marks_orders_to_catalog_observed_and_a_silent_interface_not(passed_run: Finished, tmp_path: Path) -> None:
    artifacts = passed_run.shop.artifacts
    traffic = {i["id"]: i["traffic"] for i in _read(artifacts / "integration-scope-matrix.json")["interfaces"]}
    crossed = traffic["catalog:GET /products/{id}"]  # orders -> catalog, in test_place_order's trace among others
    assert crossed["status"] == "observed" and 0 < len(crossed["by"]) <= 5, traffic
    evidence = {i["id"]: i for i in _read(artifacts / "trace-evidence.json")["interfaces"]}
    assert crossed["by"] == evidence["catalog:GET /products/{id}"]["by"]  # the same bounded list, not a second count
    assert traffic[SILENT] == {"status": "not_observed", "by": []}, traffic
    assert "pending" not in {t["status"] for t in traffic.values()}, traffic  # 3.1 recorded every interface of the scope
    # 3.1's rewrite of 1.1's matrix is on the ledger: Gate 4 passed (exit 0) and the sealed bundle verifies
    assert passed_run.run.code == 0
    lines = [json.loads(line) for line in (artifacts / "run-ledger.jsonl").read_text("utf-8").splitlines()]
    assert [e["step"] for e in lines if "integration-scope-matrix.json" in e["products"]] == ["1.1", "3.1"]
    assert passed_run.shop.interlock("verify", str(artifacts / "INTEGRATION-EVIDENCE.zip")).code == 0
    copy = passed_run.copy(tmp_path / "shop")
    rerun = copy.interlock("scope", "--env", "integration")
    assert rerun.code == 0, rerun.output
    assert {i["id"]: i["traffic"] for i in _read(copy.artifacts / "integration-scope-matrix.json")["interfaces"]} == traffic
