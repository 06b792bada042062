"""Names that need not match, and one id per interaction (issue 17 items 3 and 5), through `interlock` on a copy of the demo shop."""

from __future__ import annotations

import json

import pytest

from interlock.phases.triage import failures_from

from .conftest import Shop

pytestmark = pytest.mark.e2e

PACT = "contracts/pacts/orders-catalog.json"


def results(shop: Shop) -> dict[str, tuple[dict, dict]]:
    document = json.loads((shop.artifacts / "contract-validation-results.json").read_text())
    return {i["id"]: (c, i) for c in document["contracts"] for i in c["interactions"]}


def test_a_provider_named_otherwise_verifies_through_pact_names_and_config_check_names_it_without(shop: Shop) -> None:
    shop.edit(PACT, '"provider": {"name": "catalog"}', '"provider": {"name": "CatalogService"}')
    refused = shop.interlock("config", "check")
    assert refused.code == 2, refused.output
    assert "names provider 'CatalogService', which matches no service" in refused.output
    assert 'did you mean service \'catalog\'? add pact_names = ["CatalogService"] to [services.catalog]' in refused.output

    shop.edit("interlock.toml", "[services.catalog]\n", '[services.catalog]\npact_names = ["CatalogService"]\n')
    assert shop.interlock("config", "check").code == 0
    verified = shop.interlock("contracts", "--env", "integration")
    assert verified.code == 0, verified.output
    found = results(shop)
    contract, item = found["orders->catalog: a request for product 1"]
    assert (contract["provider"], item["status"]) == ("catalog", "pass")
    assert found["orders->catalog: a request for a missing product"][1]["status"] == "pass"


def test_two_interactions_with_one_description_and_different_states_fail_as_two_defects_and_only_reruns_one(shop: Shop) -> None:
    pact = json.loads((shop.root / PACT).read_text())
    first = next(i for i in pact["interactions"] if i["description"] == "a request for product 1")
    twin = {**json.loads(json.dumps(first)), "providerStates": [{"name": "product 999 does not exist"}]}
    pact["interactions"].append(twin)
    (shop.root / PACT).write_text(json.dumps(pact, indent=2))
    shop.edit("shop/catalog.py", '"price_cents": row.price_cents', '"price_cents": str(row.price_cents)')

    broken = shop.interlock("contracts", "--env", "integration")
    assert broken.code == 1, broken.output
    found = results(shop)
    twins = ["orders->catalog: a request for product 1 [given product 1 exists]", "orders->catalog: a request for product 1 [given product 999 does not exist]"]
    assert [found[i][1]["status"] for i in twins] == ["fail", "fail"], sorted(found)
    document = json.loads((shop.artifacts / "contract-validation-results.json").read_text())
    defects = [f for f in failures_from(None, document, None, "integration") if f.key.startswith("orders->catalog: a request for product 1")]
    assert sorted(f.key for f in defects) == twins and len({f.fingerprint for f in defects}) == 2

    rerun = shop.interlock("contracts", "--env", "integration", "--only", twins[1])
    assert rerun.code == 1, rerun.output
    assert list(results(shop)) == [twins[1]]
    log = (shop.artifacts / "logs" / "pact-catalog-http.log").read_text()
    assert "Given product 999 does not exist" in log and "Given product 1 exists" not in log, log  # the verifier replayed one, not both
