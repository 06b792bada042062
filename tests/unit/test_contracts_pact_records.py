"""Reading the verifier's results: every interaction gets a verdict, and nothing unverified passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interlock.documents import load_pact
from interlock.errors import UsageError
from interlock.contracts.pact import contract_records
from interlock.phases.contracts import summarise

PACT = {
    "consumer": {"name": "web"}, "provider": {"name": "orders"},
    "interactions": [
        {"description": "create", "providerState": "product 1 exists", "request": {"method": "POST", "path": "/orders"}, "response": {"status": 201}},
        {"description": "list", "request": {"method": "GET", "path": "/orders"}, "response": {"status": 200}},
    ],
    "metadata": {"pactSpecification": {"version": "3.0.0"}},
}


@pytest.fixture
def pact(tmp_path: Path):
    path = tmp_path / "web-orders.json"
    path.write_text(json.dumps(PACT))
    return load_pact(path)


def result(description: str, ok: bool, **extra) -> dict:
    entry = {"consumer": "web", "description": description, "result": "OK" if ok else "Error", "duration": "12ms", "pending": False}
    return {**entry, **extra}


def test_pass_and_mismatch_with_path(pact, tmp_path: Path) -> None:
    mismatch = {"type": "mismatches", "mismatches": [{"type": "BodyMismatch", "path": "$.total_cents", "expected": "1", "actual": "\"1\"", "mismatch": "Expected 1 to be the same type as \"1\""}]}
    outcomes = {("orders", "http"): {"results": {"interactionResults": [result("create", False, mismatch=mismatch), result("list", True)]}, "state_failures": {}}}
    [record] = contract_records([pact], outcomes, tmp_path)
    by = {i["description"]: i for i in record["interactions"]}
    assert by["list"]["status"] == "pass" and by["create"]["status"] == "fail"
    assert by["create"]["mismatches"][0]["path"] == "$.total_cents"
    assert by["create"]["id"] == "web->orders: create"
    assert record["status"] == "fail" and summarise([record])["failed"] == 1


def test_unreported_interaction_is_not_executed(pact, tmp_path: Path) -> None:
    outcomes = {("orders", "http"): {"results": {"interactionResults": [result("list", True)]}, "error": None, "state_failures": {}}}
    [record] = contract_records([pact], outcomes, tmp_path)
    create = next(i for i in record["interactions"] if i["description"] == "create")
    assert create["status"] == "not_executed"
    assert summarise([record])["not_executed"] == 1


def test_worker_crash_fails_everything(pact, tmp_path: Path) -> None:
    [record] = contract_records([pact], {("orders", "http"): {"results": {}, "error": "worker exited -9", "state_failures": {}}}, tmp_path)
    assert {i["status"] for i in record["interactions"]} == {"not_executed"}
    assert record["interactions"][0]["mismatches"][0]["message"] == "worker exited -9"


def test_failed_provider_state_fails_the_interaction_even_if_verifier_passed(pact, tmp_path: Path) -> None:
    outcomes = {("orders", "http"): {"results": {"interactionResults": [result("create", True), result("list", True)]},
                                     "state_failures": {"product 1 exists": "provider state 'product 1 exists' setup failed: SQL error"}}}
    [record] = contract_records([pact], outcomes, tmp_path)
    create = next(i for i in record["interactions"] if i["description"] == "create")
    assert create["status"] == "fail" and "SQL error" in create["mismatches"][0]["message"]


def test_pending_is_its_own_outcome(pact, tmp_path: Path) -> None:
    outcomes = {("orders", "http"): {"results": {"interactionResults": [result("create", False, pending=True), result("list", True)]}, "state_failures": {}}}
    [record] = contract_records([pact], outcomes, tmp_path)
    counts = summarise([record])
    assert (counts["pending"], counts["passed"], counts["failed"]) == (1, 1, 0)


def test_empty_pact_is_not_a_pass(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text(json.dumps({**PACT, "interactions": []}))
    [record] = contract_records([load_pact(path)], {}, tmp_path)
    assert record["status"] == "not_executed" and "no interactions" in record["reason"]
    assert summarise([record])["not_executed"] == 1


@pytest.mark.parametrize("document, where", [
    ({"provider": {"name": "p"}, "interactions": []}, "$.consumer.name"),
    ({"consumer": {"name": "c"}, "provider": {"name": "p"}}, "$"),
    ({"consumer": {"name": "c"}, "provider": {"name": "p"}, "interactions": [{"request": {}}]}, "$.interactions[0].description"),
])
def test_malformed_pact_names_json_path(tmp_path: Path, document: dict, where: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(UsageError) as info:
        load_pact(path)
    assert info.value.problems[0].key == where
