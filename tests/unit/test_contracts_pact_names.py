"""Names that need not match (issue 17 items 3 and 5): pact_names, config check's cross-references, unique interaction ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interlock.config import load, parse
from interlock.contracts.pact import contract_records, select_pacts
from interlock.contracts.pact.records import broker_records
from interlock.documents import load_pact, unique_ids
from interlock.errors import ConfigError
from interlock.inputs import consumer_notes, document_problems, marker_interfaces
from interlock.phases.triage import failures_from
from tests.unit.test_config import MINIMAL

SERVICES = MINIMAL.replace("[services.api]\nopenapi = \"api.yaml\"\n", "[services.api]\n")


def pact_doc(consumer: str, provider: str, interactions: list[tuple[str, list[str]]]) -> dict:
    return {"consumer": {"name": consumer}, "provider": {"name": provider}, "metadata": {"pactSpecification": {"version": "3.0.0"}},
            "interactions": [{"description": d, "providerStates": [{"name": s} for s in states],
                              "request": {"method": "GET", "path": "/product/10"}, "response": {"status": 200}} for d, states in interactions]}


def project(tmp_path: Path, text: str, pacts: dict[str, dict], features: list[str] = (), tests: str = "") -> Path:
    (tmp_path / "pacts").mkdir(exist_ok=True)
    for name, doc in pacts.items():
        (tmp_path / "pacts" / f"{name}.json").write_text(json.dumps(doc))
    (tmp_path / "f.json").write_text(json.dumps({"version": "1", "features": [{"id": "F-1", "title": "t", "interfaces": list(features)}]}))
    (tmp_path / "contracts").mkdir(exist_ok=True)
    (tmp_path / "contracts" / "VERSION").write_text("1\n")
    (tmp_path / "b.toml").write_text('version = "1"\n')
    (tmp_path / "tests").mkdir(exist_ok=True)
    (tmp_path / "tests" / "test_x.py").write_text(tests)
    config = tmp_path / "interlock.toml"
    config.write_text(text.replace('sha256 = "%s"' % ("0" * 64), 'version = "1"'), "utf-8")
    return config


PACT_SECTION = '\n[contracts.pact]\nsources = ["pacts"]\n[contracts.pact.states."a product exists"]\nsetup = { command = ["true"] }\n'
PRODUCT_PACT = pact_doc("WebConsumer", "ProductService", [("get product 10", ["a product exists"])])


def test_a_provider_named_otherwise_is_refused_with_a_did_you_mean_until_pact_names_names_it(tmp_path: Path) -> None:
    text = SERVICES.replace("[services.api]", "[services.products]").replace("services.api]", "services.products]") + PACT_SECTION
    config = project(tmp_path, text, {"web-products": PRODUCT_PACT})
    [problem] = document_problems(load(config))
    assert "names provider 'ProductService', which matches no service" in problem.message
    assert "did you mean service 'products'? add pact_names = [\"ProductService\"] to [services.products]" in problem.message
    config.write_text(config.read_text().replace("[services.products]\n", '[services.products]\npact_names = ["ProductService"]\n', 1))
    loaded = load(config)
    assert document_problems(loaded) == []
    assert loaded.config.service_of("ProductService") == "products" and loaded.config.service_of("WebConsumer") is None
    assert consumer_notes(loaded) == []  # a consumer outside the system, close to no service, needs none
    (tmp_path / "pacts" / "product-x.json").write_text(json.dumps(pact_doc("product", "products", [("get product 10", ["a product exists"])])))
    [note] = consumer_notes(loaded)
    assert "consumer 'product' matches no service by name or `pact_names`; did you mean service 'products'?" in note


def test_a_pact_name_leads_to_one_service_only() -> None:
    text = SERVICES + '[services.web]\npact_names = ["api"]\n[environments.integration.services.web]\nurl = "http://127.0.0.1:2"\n'
    with pytest.raises(ConfigError) as info:
        parse(text, Path("interlock.toml"))
    assert [p.key for p in info.value.problems] == ["services.web.pact_names.0"]
    assert "a pact name must lead to one service" in info.value.problems[0].message


def test_a_pact_read_for_a_run_is_named_as_its_services(tmp_path: Path) -> None:
    config = project(tmp_path, SERVICES.replace("[services.api]\n", '[services.api]\npact_names = ["ProductService"]\n') + PACT_SECTION,
                     {"web-products": PRODUCT_PACT})
    item = load_pact(tmp_path / "pacts" / "web-products.json").as_services(load(config).config.service_of)
    assert (item.consumer, item.provider) == ("WebConsumer", "api")
    assert item.interaction_ids() == ("WebConsumer->api: get product 10",)


def test_a_state_no_handler_covers_is_refused_for_the_named_service(tmp_path: Path) -> None:
    doc = pact_doc("web", "ProductService", [("get product 10", ["the catalogue is empty"])])
    config = project(tmp_path, SERVICES.replace("[services.api]\n", '[services.api]\npact_names = ["ProductService"]\n') + PACT_SECTION, {"w": doc})
    [problem] = document_problems(load(config))
    assert "provider state 'the catalogue is empty' of provider 'api' has no handler" in problem.message
    assert "did you mean" not in problem.message  # nothing configured is close
    doc = pact_doc("web", "ProductService", [("get product 10", ["a product exist"])])
    (tmp_path / "pacts" / "w.json").write_text(json.dumps(doc))
    [problem] = document_problems(load(config))
    assert problem.message.endswith("(the pact names it); did you mean 'a product exists', which has one?")


def test_interface_ids_of_features_and_markers_that_match_nothing_are_named_with_a_did_you_mean(tmp_path: Path) -> None:
    tests = 'import pytest\n\n@pytest.mark.interface("ap:GET /product/{id}")\ndef test_one():\n    pass\n\n@pytest.mark.interface("api:GET /product/{id}")\ndef test_two():\n    pass\n'
    config = project(tmp_path, SERVICES + '\n[contracts.pact]\nsources = ["pacts"]\n', {"w": pact_doc("web", "api", [("get", [])])},
                     features=["api:GET /product/{id}", "api:GET /products/{id}"], tests=tests)
    found = document_problems(load(config))
    assert [(p.key, p.line) for p in found] == [("features[F-1].interfaces", None), ("mark.interface", 3)]
    assert "interface 'api:GET /products/{id}' matches no interface of the system; did you mean 'api:GET /product/10'?" in found[0].message
    assert "'ap:GET /product/{id}'" in found[1].message and found[1].file == "tests/test_x.py"
    assert [ref for _, _, ref in marker_interfaces(tmp_path / "tests")] == ["ap:GET /product/{id}", "api:GET /product/{id}"]


def test_interaction_ids_are_unique_and_stay_as_they_were_where_a_description_is_unique() -> None:
    keys = [("get", ["a"]), ("get", ["b"]), ("get", ["b"]), ("list", ["a"]), ("get", [])]
    assert unique_ids("web", "p", keys) == ("web->p: get [given a]", "web->p: get [given b] #1", "web->p: get [given b] #2",
                                            "web->p: list", "web->p: get")


TWO_STATES = pact_doc("web", "api", [("get product 10", ["a product exists"]), ("get product 10", ["no products exist"]), ("list", [])])


def result(states: list[str], ok: bool) -> dict:
    mismatch = {"type": "mismatches", "mismatches": [{"type": "StatusMismatch", "path": "", "mismatch": "expected 200 but was 404"}]}
    return {"consumer": "web", "description": "get product 10", "providerStates": states, "result": "OK" if ok else "Error",
            "duration": "3ms", "pending": False, **({} if ok else {"mismatch": mismatch})}


def test_two_interactions_with_one_description_and_different_states_fail_as_two_defects(tmp_path: Path) -> None:
    (tmp_path / "w.json").write_text(json.dumps(TWO_STATES))
    item = load_pact(tmp_path / "w.json")
    reported = [result(["a product exists"], False), result(["no products exist"], False),
                {"consumer": "web", "description": "list", "providerStates": [], "result": "OK", "duration": "1ms", "pending": False}]
    [record] = contract_records([item], {item.path: {"results": {"interactionResults": reported}, "state_failures": {}}}, tmp_path)
    statuses = {i["id"]: i["status"] for i in record["interactions"]}
    assert statuses == {"web->api: get product 10 [given a product exists]": "fail", "web->api: get product 10 [given no products exist]": "fail",
                        "web->api: list": "pass"}
    failures = failures_from(None, {"contracts": [record]}, None, "integration")
    assert len({f.fingerprint for f in failures}) == 2
    assert "--only 'web->api: get product 10 [given no products exist]'" in failures[1].rerun


def test_one_verdict_is_never_given_to_two_interactions(tmp_path: Path) -> None:
    (tmp_path / "w.json").write_text(json.dumps(TWO_STATES))
    item = load_pact(tmp_path / "w.json")
    reported = [result(["a product exists"], True)]  # the verifier reported one of the two
    [record] = contract_records([item], {item.path: {"results": {"interactionResults": reported}, "state_failures": {}}}, tmp_path)
    assert [i["status"] for i in record["interactions"]] == ["pass", "not_executed", "not_executed"]


def test_only_selects_exactly_one_of_two_interactions_sharing_a_description(tmp_path: Path) -> None:
    (tmp_path / "w.json").write_text(json.dumps(TWO_STATES))
    item = load_pact(tmp_path / "w.json")
    kept, selection, unmatched = select_pacts([item], ["web->api: get product 10 [given no products exist]"])
    assert selection == {item.path: frozenset({1})} and unmatched == []
    kept, selection, unmatched = select_pacts([item], ["web->api: get product 10"])  # ambiguous: names neither
    assert unmatched == ["web->api: get product 10"]


def test_broker_results_sharing_a_description_get_ids_of_their_own() -> None:
    reported = [result(["a product exists"], False), result(["no products exist"], False)]
    [record] = broker_records("api", {"results": {"interactionResults": reported}, "state_failures": {}}, "https://broker.example",
                              {"web": "frontend"}.get)
    assert [i["id"] for i in record["interactions"]] == ["frontend->api: get product 10 [given a product exists]",
                                                         "frontend->api: get product 10 [given no products exist]"]


def test_an_exact_rerun_of_broker_interactions_narrows_the_verifier_by_their_states(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock.contracts import pact
    from tests.unit.test_contracts_pact_sources import BROKER, TOKEN, context

    monkeypatch.setenv("PACT_BROKER_TOKEN_FOR_TEST", TOKEN)
    ctx = context(tmp_path, "[contracts.pact]\n" + BROKER)
    [job] = pact.prepare(ctx, ["web->catalog: get 1 [given p1]", "web->catalog: get 2 [given p2; p.3]"]).jobs
    assert job["filter"] == {"description": "^(?:get 1|get 2)$", "state": r"^(?:p\.3|p1|p2)$", "consumers": ["web"]}
    [job] = pact.prepare(ctx, ["web->catalog: get 1 [given p1]", "web->catalog: list"]).jobs
    assert job["filter"]["state"] is None  # `list` names no state: a state filter would cut it out
