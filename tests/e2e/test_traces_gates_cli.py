"""Issue 16's findings on the demo, end to end: a service declared `traces = "required"` that sends no span
(OTEL_SDK_DISABLED=true) fails Gate 2 by name, and a test calling an interface no contract or test declares makes an
undeclared-dependency finding: blocking with `[observability] undeclared = "fail"`, a warning with "report", named in
the forward recommendations and drawn in the report; the demo's own run reports its one undeclared read as a warning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import Finished, Shop

pytestmark = pytest.mark.e2e
UNDECLARED = "observability.undeclared_dependencies"
UNDECLARED_CALL = "orders:GET /orders/1/invoice"
#: A test of the shop's suite that calls an orders URL nobody declares (no contract, no OpenAPI path, no marker).
INVOICE_TEST = '''"""A test that calls an interface nobody declared."""

import httpx
import pytest

pytestmark = pytest.mark.integration


def test_invoice_is_not_served(http: httpx.Client, orders_url: str) -> None:
    assert http.get(f"{orders_url}/orders/1/invoice").status_code == 404
'''


def _json(artifacts: Path, name: str) -> Any:
    return json.loads((artifacts / name).read_text("utf-8"))


def _row(artifacts: Path, condition: str) -> dict[str, Any]:
    gates = _json(artifacts, "gate-results.json")
    return next(c for g in gates["gates"] for c in g["conditions"] if c["id"] == condition)


def test_the_demo_run_reports_its_one_undeclared_read_as_a_warning(passed_run: Finished) -> None:
    """The demo's suite reads shipping's GET /shipments (test_order_is_shipped polls it) and nothing declares it: a real
    finding, a warning under the default `undeclared = "report"`, so the run still passes; every service sent spans."""
    artifacts = passed_run.shop.artifacts
    for condition in ("observability.traces_required_missing", "observability.metrics_missing"):
        row = _row(artifacts, condition)
        assert row["status"] == "pass" and row["actual"] == 0, row
    undeclared = _row(artifacts, "observability.undeclared_dependencies")
    assert undeclared["status"] == "warn" and undeclared["actual"] == 1 and undeclared["blocking"] is False, undeclared
    assert "shipping:GET /shipments (called by interlock-tests)" in undeclared["reason"]
    evidence = _json(artifacts, "trace-evidence.json")
    assert {s["service"] for s in evidence["services"] if s["spans"]} >= {"catalog", "orders", "shipping"}
    recommendations = (artifacts / "forward-recommendations.md").read_text("utf-8")
    section = recommendations.split("### Undeclared dependencies seen in traces\n\n", 1)[1].split("\n\n", 1)[0]
    assert section.startswith("- `shipping:GET /shipments` is called by `interlock-tests`") and "test_order_is_shipped" in section
    html = (artifacts / "integration-report.html").read_text("utf-8")
    assert 'data-edge="orders->catalog" data-status="pass" data-observed="yes"' in html
    assert 'id="observed-calls"' in html and "<th>traffic</th>" in html and "<code>shipping:GET /shipments</code>" in html


def test_a_silent_required_service_and_an_undeclared_call_fail_gate_2_by_name(shop: Shop) -> None:
    shop.edit("interlock.toml", 'env = { PORT = "{port:catalog}" }', 'env = { PORT = "{port:catalog}", OTEL_SDK_DISABLED = "true" }')
    shop.edit("interlock.toml", "[services.catalog]\n", '[services.catalog]\ntraces = "required"\n')
    shop.edit("interlock.toml", "[services.orders]\n", '[observability]\nundeclared = "fail"\n\n[services.orders]\n')
    (shop.root / "tests" / "test_invoice.py").write_text(INVOICE_TEST, "utf-8")
    result = shop.interlock("run", "--yes", timeout=900)
    assert result.code == 1, result.output
    artifacts = shop.artifacts

    readiness = {row["service"]: row for row in _json(artifacts, "observability-readiness.json")["services"]}
    assert readiness["catalog"]["spans"] == 0 and readiness["catalog"]["traces_required"] is True
    assert readiness["catalog"]["traces"].startswith("missing: no spans received from catalog"), readiness["catalog"]
    silent = _row(artifacts, "observability.traces_required_missing")
    assert silent["status"] == "fail" and silent["actual"] == 1 and "catalog" in silent["reason"]
    undeclared = _row(artifacts, "observability.undeclared_dependencies")
    assert undeclared["status"] == "fail" and undeclared["blocking"] is True and UNDECLARED_CALL in undeclared["reason"], undeclared
    assert "observability.traces_required_missing" in result.output and "observability.undeclared_dependencies" in result.output

    recommendations = (artifacts / "forward-recommendations.md").read_text("utf-8")
    [line] = [line for line in recommendations.splitlines() if line.startswith(f"- `{UNDECLARED_CALL}`")]
    assert "seen in `tests/test_invoice.py::test_invoice_is_not_served`" in line

    # The same folder, judged again with the finding only reported: a warning; the silent service still fails.
    shop.edit("interlock.toml", 'undeclared = "fail"', 'undeclared = "report"')
    again = shop.interlock("gates")
    assert again.code == 1 and "observability.traces_required_missing" in again.output
    assert _row(artifacts, "observability.undeclared_dependencies")["status"] == "warn"
    assert _row(artifacts, "observability.traces_required_missing")["status"] == "fail"


def test_with_undeclared_fail_the_phase_2_line_leaves_the_trace_evidence_pending_and_the_final_gate_2_fails_on_it(shop: Shop) -> None:
    """Deliver 6: trace-evidence.json is written by step 3.1, so the Gate 2 line at the end of phase 2 shows the undeclared
    condition pending instead of failing it as missing; the final verdict reads the real evidence (the demo's one
    undeclared read, shipping:GET /shipments) and fails Gate 2 on it, as `interlock gates` on the folder does."""
    shop.edit("interlock.toml", "[services.orders]\n", '[observability]\nundeclared = "fail"\n\n[services.orders]\n')
    result = shop.interlock("run", "--yes", "--json", timeout=900)
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    [phase_2] = [e for e in events if e["event"] == "gate_evaluated" and e["gate"] == 2]
    assert phase_2["status"] == "pass" and phase_2["failures"] == [], phase_2
    assert phase_2["pending"] == [f"{UNDECLARED}: pending: decided after step 3.1 writes trace-evidence.json"]
    finished = events[-1]
    assert finished["event"] == "run_finished" and finished["gates"]["2"] == "fail" and result.code == finished["exit_code"] == 1, finished

    document = _json(shop.artifacts, "gate-results.json")
    assert "decided_through" not in document and document["status"] == "fail"
    row = _row(shop.artifacts, UNDECLARED)
    assert row["status"] == "fail" and row["actual"] == 1 and "shipping:GET /shipments" in row["reason"], row
    again = shop.interlock("gates")
    assert again.code == 1 and "shipping:GET /shipments" in again.output
