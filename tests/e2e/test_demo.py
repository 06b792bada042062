"""The whole protocol through the CLI on a private copy of the demo shop."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from interlock.artifacts import PROTOCOL_ARTIFACTS, schema

from .conftest import Finished, Shop

pytestmark = pytest.mark.e2e


def test_demo_run_passes_all_gates_and_verifies(passed_run: Finished, tmp_path: Path) -> None:
    shop, result = passed_run.copy(tmp_path / "shop"), passed_run.run  # `interlock run --env integration --yes`, once a session
    assert result.code == 0, result.output
    for line in (
        "[PHASE 1 START] - Aligning integration scope with architecture and delivery artifacts...",
        "[PHASE 1 COMPLETE] - Scope Alignment finished successfully.",
        "[AUTOMATION] validate_environment.py executed: PASS",
        "[AUTOMATION] run_contract_tests.py executed: PASS",
        "[AUTOMATION] pytest -m integration executed: PASS",
        "[PHASE 4 START] - Compiling integration validation bundle for quality audit...",
        "[PROTOCOL COMPLETE] - Integration validation approved. Ready for Protocol 4 (Quality Audit).",
    ):
        assert line in result.stdout.splitlines(), line
    names = {a.filename for a in PROTOCOL_ARTIFACTS} | {"gate-results.json"}
    assert len(names) == 15
    for name in names:
        assert (shop.artifacts / name).is_file(), name
        if name.endswith(".json"):
            data = json.loads((shop.artifacts / name).read_text())
            assert not list(Draft202012Validator(schema(name)).iter_errors(data)), name
    gates = json.loads((shop.artifacts / "gate-results.json").read_text())
    assert [g["status"] for g in gates["gates"]] == ["pass"] * 4
    contracts = json.loads((shop.artifacts / "contract-validation-results.json").read_text())
    summary = contracts["summary"]
    assert summary["interactions"] >= 20 and summary["passed"] == summary["interactions"], summary
    assert {c["kind"] for c in contracts["contracts"]} == {"pact-http", "pact-message", "openapi", "asyncapi", "schema"}
    report = json.loads((shop.artifacts / "test-execution-report.json").read_text())
    assert report["interlock"]["summary"]["passed"] >= 8 and report["interlock"]["summary"]["failed"] == 0
    scope = json.loads((shop.artifacts / "integration-scope-matrix.json").read_text())
    assert {(d["consumer"], d["provider"]) for d in scope["dependencies"] if d["via"] == "pact"} == {("orders", "catalog"), ("web", "orders"), ("shipping", "orders")}
    assert ("orders", "catalog") in {(d["consumer"], d["provider"]) for d in scope["dependencies"]}
    assert scope["uncovered"] == [] and {i["kind"] for i in scope["interfaces"]} == {"http", "message", "table"}
    verified = shop.interlock("verify", str(shop.artifacts / "INTEGRATION-EVIDENCE.zip"))
    assert verified.code == 0, verified.output
    assert shop.interlock("gates").code == 0


def test_broken_provider_field_fails_the_named_interaction(shop: Shop) -> None:
    shop.edit("shop/catalog.py", '"price_cents": row.price_cents', '"price": row.price_cents')
    result = shop.interlock("run", "--env", "integration", "--yes")
    assert result.code == 1, result.output
    assert "Traceback" not in result.output
    assert "orders->catalog: a request for product 1" in result.stdout
    assert "[AUTOMATION] run_contract_tests.py executed: FAIL" in result.stdout
    contracts = json.loads((shop.artifacts / "contract-validation-results.json").read_text())
    failed = [(c["consumer"], c["provider"], i["description"]) for c in contracts["contracts"] for i in c["interactions"] if i["status"] != "pass"]
    assert ("orders", "catalog", "a request for product 1") in failed
    gates = {g["id"]: g["status"] for g in json.loads((shop.artifacts / "gate-results.json").read_text())["gates"]}
    assert gates[2] == "fail"
    assert "[PROTOCOL COMPLETE]" not in result.stdout


def test_unreachable_health_check_is_environment_mismatch(shop: Shop) -> None:
    shop.edit("interlock.toml", 'health = "{url:catalog}/health"', 'health = "http://127.0.0.1:9/health"')
    shop.edit("interlock.toml", "start_timeout = 20", "start_timeout = 3")
    result = shop.interlock("run", "--env", "integration", "--yes")
    assert result.code == 3, result.output
    assert "[ERROR] Integration environment diverges from baseline configuration." in result.stdout
    assert "Traceback" not in result.output
    assert "[PHASE 2 START]" not in result.stdout
    report = json.loads((shop.artifacts / "environment-validation-report.json").read_text())
    assert report["status"] == "fail"


def test_missing_prerequisite_halts_before_phase_2(shop: Shop) -> None:
    shop.edit("docs/features.json", '"version": "1.4.0"', '"version": "1.3.9"')
    result = shop.interlock("run", "--env", "integration", "--yes", "--json")
    assert result.code == 3, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    lines = [e.get("line") for e in events]
    assert "[ERROR] Required architecture or feature artifacts unavailable." in lines
    assert not any(e["event"] == "phase_started" and e["phase"] == 2 for e in events)
    finished = [e for e in events if e["event"] == "run_finished"]
    assert len(finished) == 1 and finished[0]["exit_code"] == 3


def test_failing_pact_with_recorded_mitigation_passes_gate_2_naming_it(rating_run: Finished, tmp_path: Path) -> None:
    # The consumer now expects a field the provider does not serve: only this interaction can fail (the session's rating_run).
    shop, unmitigated = rating_run.copy(tmp_path / "shop"), rating_run.run
    assert unmitigated.code == 1, unmitigated.output
    assert "orders->catalog: a request for product 1: $ Actual map is missing the following keys: rating" in unmitigated.stdout
    [defect] = [r for r in csv.DictReader(io.StringIO((shop.artifacts / "defect-log.csv").read_text())) if r["source"] == "contract"]
    approval = 'justification = "pending: catalog renames price_cents in v2"\napprover = "qa-lead"\nticket = "SHOP-42"\nexpires = 2099-01-01T00:00:00Z\n'
    with shop.config.open("a") as config:
        # A waiver covers only its own condition: the failed interaction under contracts.failed, its critical defect under defects.open_critical.
        config.write('\n[[waivers]]\ncondition = "contracts.failed"\nitem = "orders->catalog: a request for product 1"\n' + approval)
        config.write(f'\n[[waivers]]\ncondition = "defects.open_critical"\nitem = "{defect["id"]}"\n' + approval)
    result = shop.interlock("run", "--env", "integration", "--yes")
    gates = {g["id"]: g for g in json.loads((shop.artifacts / "gate-results.json").read_text())["gates"]}
    failed = next(c for c in gates[2]["conditions"] if c["id"] == "contracts.failed")
    assert failed["raw_status"] == "fail" and failed["status"] == "pass", result.output
    assert failed["waivers"][0]["ticket"] == "SHOP-42" and failed["waivers"][0]["approver"] == "qa-lead"
    assert gates[2]["status"] == "pass" and gates[3]["status"] == "pass", result.output
    log = (shop.artifacts / "defect-log.csv").read_text()
    assert '"waived"' in log and "SHOP-42" in log
