"""`interlock contracts` on a private copy of the demo shop: all four kinds, the exact failure, exact reruns."""

from __future__ import annotations

import json
import shlex

import pytest

from interlock.phases.triage import failures_from

from .conftest import Shop

pytestmark = pytest.mark.e2e

PRODUCT_1 = "orders->catalog: a request for product 1"


def results(shop: Shop) -> dict:
    return json.loads((shop.artifacts / "contract-validation-results.json").read_text())


def items(document: dict) -> dict[str, tuple[dict, dict]]:
    return {i["id"]: (c, i) for c in document["contracts"] for i in c["interactions"]}


def test_contracts_cover_all_four_kinds_with_per_item_verdicts(shop: Shop) -> None:
    result = shop.interlock("contracts", "--env", "integration", "--output", "out.json", "--json")
    assert result.code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert "[AUTOMATION] run_contract_tests.py executed: PASS" in [e.get("line") for e in events]
    shown = {e["id"]: e["status"] for e in events if e["event"] == "check_finished"}
    document = results(shop)
    assert "filter" not in document and document["status"] == "pass"
    assert {c["kind"] for c in document["contracts"]} == {"pact-http", "pact-message", "openapi", "asyncapi", "schema"}
    for contract in document["contracts"]:
        assert contract["interactions"], contract["id"]
        for item in contract["interactions"]:
            assert item["status"] == "pass", (contract["id"], item)
            assert shown[item["id"]] == "pass", item["id"]  # each item's verdict is an event, not just a total
    assert PRODUCT_1 in items(document) and "shipping->orders: an order created event" in items(document)
    assert json.loads((shop.root / "out.json").read_text()) == document
    pact = json.loads((shop.artifacts / "contract-validation-config.json").read_text())["validators"]["pact"]
    assert pact["per_provider"] == 1 and 1 <= pact["concurrency"] <= pact["jobs"] == 3
    assert {f["path"]: len(f["sha256"]) for f in pact["pact_files"]} == {f"contracts/pacts/{n}.json": 64 for n in ("orders-catalog", "shipping-orders", "web-orders")}


def test_broken_catalog_field_fails_the_exact_interaction_then_only_reruns_it_and_gate_2_fails_as_filtered(shop: Shop) -> None:
    shop.edit("shop/catalog.py", '"price_cents": row.price_cents', '"price_cents": str(row.price_cents)')
    broken = shop.interlock("contracts", "--env", "integration")
    assert broken.code == 1, broken.output
    assert "Traceback" not in broken.output
    assert "[AUTOMATION] run_contract_tests.py executed: FAIL" in broken.stdout.splitlines()
    document = results(shop)
    contract, item = items(document)[PRODUCT_1]
    assert (contract["consumer"], contract["provider"], item["description"], item["status"]) == ("orders", "catalog", "a request for product 1", "fail")
    assert "$.price_cents" in [m["path"] for m in item["mismatches"]], item["mismatches"]
    assert next(line for line in broken.stdout.splitlines() if PRODUCT_1 in line and "$.price_cents" in line)
    assert items(document)["orders->catalog: a request for a missing product"][1]["status"] == "pass"  # only the broken interaction fails

    # The defect's rerun command (step 3.2 writes it) is an exact rerun of that one interaction.
    [failure] = [f for f in failures_from(None, document, None, "integration") if f.key == PRODUCT_1]
    rerun = shlex.split(failure.rerun)
    assert rerun[:4] == ["interlock", "contracts", "--env", "integration"] and rerun[-2:] == ["--only", PRODUCT_1]
    again = shop.interlock(*rerun[1:])
    assert again.code == 1, again.output
    rerun_document = results(shop)
    assert rerun_document["filter"] == [PRODUCT_1] and list(items(rerun_document)) == [PRODUCT_1]
    assert "$.price_cents" in [m["path"] for m in items(rerun_document)[PRODUCT_1][1]["mismatches"]]

    shop.edit("shop/catalog.py", '"price_cents": str(row.price_cents)', '"price_cents": row.price_cents')
    fixed = shop.interlock("contracts", "--env", "integration", "--only", PRODUCT_1)
    assert fixed.code == 0, fixed.output
    fixed_document = results(shop)
    assert fixed_document["filter"] == [PRODUCT_1] and fixed_document["summary"]["interactions"] == 1
    assert items(fixed_document)[PRODUCT_1][1]["status"] == "pass"
    assert "not complete evidence" in fixed.stdout

    gates = shop.interlock("gates")
    assert gates.code == 1, gates.output
    gate2 = next(g for g in json.loads((shop.artifacts / "gate-results.json").read_text())["gates"] if g["id"] == 2)
    filtered = next(c for c in gate2["conditions"] if c["id"] == "contracts.filtered")
    assert gate2["status"] == "fail" and filtered["status"] == "fail" and filtered["actual"] == 1
    assert filtered["reason"].startswith("filtered run: not complete evidence")
    assert "filtered run: not complete evidence" in gates.stdout


def test_only_with_an_unknown_id_is_a_usage_error(shop: Shop) -> None:
    result = shop.interlock("contracts", "--env", "integration", "--only", "orders->catalog: a request for product 2")
    assert result.code == 2, result.output
    assert "interlock: error: --only: no pact interaction has id 'orders->catalog: a request for product 2'" in result.stderr
    assert "Traceback" not in result.output
