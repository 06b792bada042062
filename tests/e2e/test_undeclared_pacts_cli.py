"""Issue 13 item 7 through the CLI on a copy of the shop: a pact nobody declares fails step 1.1 and Gate 1 by name;
`[contracts.pact] exclude` admits it; a pact one folder below a declared source folder is in scope."""

from __future__ import annotations

import json
import shutil

import pytest

from .conftest import Shop

pytestmark = pytest.mark.e2e

LEGACY = "contracts/legacy/web-orders-v1.json"


def _scope(shop: Shop) -> dict:
    return json.loads((shop.artifacts / "integration-scope-matrix.json").read_text("utf-8"))


def test_an_undeclared_pact_fails_gate_1_until_excluded(shop: Shop) -> None:
    (shop.root / LEGACY).parent.mkdir(parents=True)
    shutil.copy(shop.root / "contracts/pacts/web-orders.json", shop.root / LEGACY)
    step = shop.interlock("scope")
    assert step.code == 1, step.output
    assert f"no [contracts.pact] source declares: {LEGACY}" in step.stdout
    assert _scope(shop)["undeclared_pacts"] == [LEGACY]
    gates = shop.interlock("gates")
    assert gates.code == 1
    assert f"scope.undeclared_pacts: pact files no [contracts.pact] source declares: {LEGACY}" in gates.stdout

    shop.edit("interlock.toml", 'sources = ["contracts/pacts"]', 'sources = ["contracts/pacts"]\nexclude = ["contracts/legacy/*.json"]')
    assert shop.interlock("config", "check").code == 0
    step = shop.interlock("scope")
    assert step.code == 0, step.output
    assert _scope(shop)["undeclared_pacts"] == []
    gates = shop.interlock("gates")
    assert "scope.undeclared_pacts" not in gates.stdout  # failed conditions only are listed
    rows = {c["id"]: c for g in json.loads((shop.artifacts / "gate-results.json").read_text("utf-8"))["gates"] for c in g["conditions"]}
    assert rows["scope.undeclared_pacts"]["status"] == "pass" and rows["scope.undeclared_pacts"]["actual"] == 0


def test_a_pact_below_a_declared_source_folder_is_in_scope(shop: Shop) -> None:
    nested = shop.root / "contracts/pacts/v2/web-orders.json"
    nested.parent.mkdir()
    shutil.move(shop.root / "contracts/pacts/web-orders.json", nested)
    step = shop.interlock("scope")
    assert step.code == 0, step.output
    scope = _scope(shop)
    assert scope["undeclared_pacts"] == []
    pact_checks = {c["ref"] for i in scope["interfaces"] for c in i["checks"] if c["kind"] == "pact"}
    assert "web->orders: create an order for product 1" in pact_checks, pact_checks  # read from contracts/pacts/v2/
