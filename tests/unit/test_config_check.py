"""`config check` refuses statically what `run` would refuse, in interlock's words, each problem with file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlock.config import load, parse
from interlock.errors import ConfigError
from interlock.inputs import document_problems
from tests.unit.test_config import MINIMAL

PACT = MINIMAL + '\n[contracts.pact]\nsources = ["pacts"]\n'


def problems(text: str) -> list:
    with pytest.raises(ConfigError) as info:
        parse(text, Path("interlock.toml"))
    return info.value.problems


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_a_list_of_actions_where_one_is_taken_is_named_in_interlock_words() -> None:
    text = PACT + '[contracts.pact.messages."m"]\nbroker = "b"\ntopic = "t"\ntrigger = [{command = ["a"]}, {command = ["b"]}]\n'
    [problem] = problems(text)
    assert problem.message == "`trigger` must be one action table ({command=[...]}, {http={...}} or {sql=..., store=...})"
    assert problem.key == "contracts.pact.messages.m.trigger" and problem.line == line_of(text, "trigger = [")


def test_a_state_action_that_is_neither_a_table_nor_a_list_says_both_are_allowed() -> None:
    text = PACT + '[contracts.pact.states."s"]\nsetup = 5\n'
    [problem] = problems(text)
    assert problem.message == "`setup` must be one action table ({command=[...]}, {http={...}} or {sql=..., store=...}) or a list of them"
    assert "Input should" not in problem.message and "dictionary" not in problem.message
    assert problem.key == "contracts.pact.states.s.setup" and problem.line == line_of(text, "setup = 5")


@pytest.mark.parametrize("value, words", [('"x"', "must be a whole number"), ("0", "must be greater than 0")])
def test_type_and_bound_errors_are_interlock_sentences(value: str, words: str) -> None:
    [problem] = problems(PACT + f"request_timeout_ms = {value}\n")
    assert problem.message.endswith(words) and "Input should" not in problem.message
    assert problem.key == "contracts.pact.request_timeout_ms"


def test_a_literal_lists_what_is_allowed() -> None:
    [problem] = problems(MINIMAL.replace('openapi = "api.yaml"', 'kind = "grpc"'))
    assert problem.message == "must be one of 'http' or 'worker'"


def test_did_you_mean_never_suggests_the_key_that_was_typed() -> None:
    text = PACT + '[contracts.pact.states."s".setup.http]\nurl = "http://x"\njson_body = {a = 1}\n'
    [problem] = problems(text)
    assert problem.message == "unknown key; did you mean `json`?"
    assert problem.line == line_of(text, "json_body")


def test_an_internal_field_is_not_a_key_and_says_where_it_is_written() -> None:
    [problem] = problems(MINIMAL + '\n[contracts]\npact_exclude = ["x"]\n')
    assert problem.message == "`pact_exclude` is not a key of [contracts]; write `exclude = [...]` under [contracts.pact]"
    [typo] = problems(MINIMAL + '\n[contracts]\npact_exclud = ["x"]\n')
    assert "pact_exclude" not in typo.message and "unknown key" in typo.message


STORES = MINIMAL + """
[environments.integration.stores.db]
kind = "sqlite"
url = "sqlite:///x.db"
"""


@pytest.mark.parametrize("section, key", [
    ('[contracts.pact]\nsources = ["p"]\n[contracts.pact.messages.m]\nbroker = "bus"\ntopic = "t"\ntrigger = {sql = "select 1", store = "nodb"}\n',
     "contracts.pact.messages.m.trigger.store"),
    ('[contracts.asyncapi.channels.c]\nbroker = "bus"\ntrigger = {sql = "select 1", store = "nodb"}\n', "contracts.asyncapi.channels.c.trigger.store"),
    ('[[contracts.openapi.fixtures."api:GET /x"]]\nsetup = {sql = "select 1", store = "nodb"}\n', "contracts.openapi.fixtures.api:GET /x.0.setup.store"),
    ('[[contracts.schema]]\nservice = "api"\nstore = "nodb"\npath = "t.yaml"\n', "contracts.schema.0.store"),
])
def test_every_undeclared_store_is_refused_where_it_is_named(section: str, key: str) -> None:
    text = STORES + "\n[environments.integration.brokers.bus]\nkind = \"redis\"\nurl = \"redis://x\"\n\n" + section
    found = problems(text)
    assert [p.key for p in found] == [key]
    assert "'nodb' is not defined in environment 'integration'" in found[0].message and found[0].line is not None


def test_undeclared_brokers_of_messages_and_channels_are_both_refused() -> None:
    text = STORES + ('[contracts.pact]\nsources = ["p"]\n[contracts.pact.messages.m]\nbroker = "nobus"\ntopic = "t"\ntrigger = {command = ["x"]}\n'
                     '[contracts.asyncapi.channels.c]\nbroker = "otherbus"\ntrigger = {command = ["x"]}\n')
    found = problems(text)
    assert {p.key for p in found} == {"contracts.pact.messages.m.broker", "contracts.asyncapi.channels.c.broker"}
    assert all("is not defined in environment 'integration'" in p.message for p in found)


def test_services_named_by_contract_tables_must_be_declared() -> None:
    text = STORES + ('[[contracts.schema]]\nservice = "ghost"\nstore = "db"\npath = "t.yaml"\n'
                     '[contracts.openapi]\nservices = ["phantom"]\n')
    assert {p.key for p in problems(text)} == {"contracts.schema.0.service", "contracts.openapi.services"}


def _project(tmp_path: Path, text: str) -> Path:
    config = tmp_path / "interlock.toml"
    config.write_text(text, "utf-8")
    return config


def test_missing_prerequisites_fail_the_check_until_they_exist(tmp_path: Path) -> None:
    config = _project(tmp_path, MINIMAL.replace('sha256 = "%s"' % ("0" * 64), 'version = "1"'))
    found = [p for p in document_problems(load(config)) if "api.yaml" not in p.file]  # the OpenAPI document is another test's
    assert [p.key for p in found] == [f"prerequisites.{n}.path" for n in ("feature_list", "architecture_contracts", "environment_baseline")]
    assert all("does not exist" in p.message and p.line for p in found)
    (tmp_path / "f.json").write_text('{"version": "1", "features": []}')
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "VERSION").write_text("1\n")
    (tmp_path / "b.toml").write_text('version = "1"\n')
    assert [p for p in document_problems(load(config)) if "api.yaml" not in p.file] == []


def test_every_missing_pact_source_is_named_on_its_own_line(tmp_path: Path) -> None:
    text = MINIMAL + '\n[contracts.pact]\nsources = [\n  "pacts/a.json",\n  "present",\n  "pacts/b.json",\n  "gone",\n  "also/gone.json",\n]\n'
    (tmp_path / "present").mkdir()
    found = [p for p in document_problems(load(_project(tmp_path, text))) if "pact source" in p.message]
    assert [p.line for p in found] == [line_of(text, s) for s in ('"pacts/a.json"', '"pacts/b.json"', '"gone"', '"also/gone.json"')]
    assert [p.key for p in found] == [f"contracts.pact.sources.{i}" for i in (0, 2, 3, 4)]


def test_a_pact_whose_provider_is_not_a_service_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pacts").mkdir()
    pact = '{"consumer": {"name": "%s"}, "provider": {"name": "%s"}, "interactions": [], "metadata": {"pactSpecification": {"version": "3.0.0"}}}'
    (tmp_path / "pacts" / "web-api.json").write_text(pact % ("web", "api"))
    (tmp_path / "pacts" / "web-users.json").write_text(pact % ("web", "users"))
    text = MINIMAL + '\n[contracts.pact]\nsources = ["pacts"]\n'
    found = [p for p in document_problems(load(_project(tmp_path, text))) if "provider" in p.message]
    [problem] = found  # the consumer `web` runs nowhere and needs no service; the provider `users` does
    assert "pacts/web-users.json names provider 'users', which matches no service of [services] by name or `pact_names`" in problem.message
    assert problem.key == "contracts.pact.sources" and problem.line == line_of(text, "sources =")
