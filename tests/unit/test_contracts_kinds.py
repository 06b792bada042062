"""The contract kinds' table: every kind satisfies the Protocol, the config's kinds are all registered, a half kind is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from interlock import runspec
from interlock.artifacts import ArtifactDir
from interlock.config import Contracts, load, parse
from interlock.contracts import kinds
from interlock.contracts.kinds import KINDS, PARTS, ContractKind, register
from interlock.phases import contracts as contracts_step
from interlock.phases import scope
from interlock.context import RunContext


def test_every_registered_kind_satisfies_the_protocol_under_its_own_name() -> None:
    assert list(KINDS) == ["pact", "openapi", "asyncapi", "schema"]  # the order step 2.2 runs and reports them
    for name, kind in KINDS.items():
        assert isinstance(kind, ContractKind), name
        assert kind.name == name and kind.prefixes and all(isinstance(p, str) and p.endswith(":") for p in kind.prefixes)
        for part in PARTS[2:]:
            assert callable(getattr(kind, part)), (name, part)


def test_every_kind_the_config_can_declare_is_registered() -> None:
    declarable = {field.alias or name for name, field in Contracts.model_fields.items()} - {"pact_exclude"}
    assert declarable == set(KINDS)


def test_record_id_prefixes_belong_to_one_kind_each() -> None:
    prefixes = [p for kind in KINDS.values() for p in kind.prefixes]
    assert len(prefixes) == len(set(prefixes))


class _Half:
    """A kind without `verify` (and so without everything step 2.2 needs to run it)."""

    name = "half"
    prefixes = ("half:",)

    def declared(self, config: Any) -> bool:
        return False

    def prepare(self, ctx: Any, only: Any) -> None:
        return None

    def settings(self, ctx: Any, prepared: Any) -> None:
        return None

    def interfaces(self, ctx: Any, interfaces: Any) -> None:
        return None


class _Whole(_Half):
    name = "whole"
    prefixes = ("whole:",)

    def verify(self, ctx: Any, prepared: Any) -> list[dict[str, Any]]:
        return []


def test_a_kind_missing_a_part_is_refused_at_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kinds, "KINDS", dict(KINDS))
    with pytest.raises(TypeError, match="contract kind 'half' lacks verify"):
        register(_Half())
    assert "half" not in kinds.KINDS
    not_callable = _Whole()
    not_callable.interfaces = "not a function"  # type: ignore[assignment,method-assign]
    with pytest.raises(TypeError, match="lacks interfaces"):
        register(not_callable)


def test_a_complete_kind_registers_once_and_a_second_of_its_name_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kinds, "KINDS", dict(KINDS))
    whole = register(_Whole())
    assert kinds.KINDS["whole"] is whole
    with pytest.raises(ValueError, match="registered twice"):
        register(_Whole())
    with pytest.raises(ValueError, match="registered twice"):
        register(KINDS["pact"])


MINIMAL = """
[project]
name = "x"
[prerequisites.feature_list]
path = "f.json"
version = "1"
[prerequisites.architecture_contracts]
path = "contracts"
version = "1"
[prerequisites.environment_baseline]
path = "b.toml"
version = "1"
[services.shop]
openapi = "api.yaml"
[environments.test.services.shop]
url = "http://127.0.0.1:1"
"""


@pytest.mark.parametrize(("section", "expected"), [
    ("", []),
    ("[contracts.openapi]\n", ["openapi"]),
    ('[contracts.pact]\nsources = ["p"]\n[contracts.openapi]\n', ["pact", "openapi"]),
    ('[contracts.pact]\nexclude = ["x/*.json"]\n', []),  # a table that only excludes declares no pacts
])
def test_declared_kinds_follow_the_config_in_table_order(section: str, expected: list[str]) -> None:
    config = parse(MINIMAL + section, Path("interlock.toml"))
    assert [kind.name for kind in kinds.declared(config)] == expected


class _Stand(_Whole):
    """Stands in for the schema kind in the table: what step 2.2 and the scope matrix do comes from the table, never a module's name."""

    name = "schema"
    prefixes = ("schema:",)

    def declared(self, config: Any) -> bool:
        return True

    def settings(self, ctx: Any, prepared: Any) -> dict[str, Any]:
        return {"stand_in": True}

    def verify(self, ctx: Any, prepared: Any) -> list[dict[str, Any]]:
        item = {"id": "db:table t", "description": "t exists", "provider_states": [], "status": "pass", "duration_ms": 1.0, "mismatches": []}
        return [{"id": "schema:shop->db", "kind": "schema", "consumer": "shop", "provider": "db", "source": "s.yaml", "specification": "1",
                 "status": "pass", "duration_ms": 1.0, "reason": None, "interactions": [item]}]

    def interfaces(self, ctx: Any, interfaces: dict[str, dict[str, Any]]) -> None:
        interfaces["db:table t"]["checks"].append({"kind": "schema", "ref": "stand-in"})


def test_step_and_scope_reach_a_kind_only_through_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "interlock.toml").write_text(MINIMAL.replace('openapi = "api.yaml"\n', ""), "utf-8")
    ctx = RunContext(runspec.build(load(tmp_path / "interlock.toml"), "test"), ArtifactDir(tmp_path / "art"), lambda e: None, lambda k: (False, "test"), "run1")
    monkeypatch.setitem(KINDS, "schema", _Stand())
    assert contracts_step.declared(ctx) == ["schema"]
    outcome = contracts_step.run(ctx)  # both artifacts are checked against their schemas as they are written
    assert outcome.status == "pass"
    assert ctx.artifacts.read_json("contract-validation-config.json")["validators"] == {"schema": {"stand_in": True}}
    assert [r["id"] for r in ctx.artifacts.read_json("contract-validation-results.json")["contracts"]] == ["schema:shop->db"]
    interfaces = {"db:table t": {"id": "db:table t", "service": "db", "kind": "table", "operation": "table t", "source": "m", "features": [], "checks": []}}
    scope._contract_checks(ctx, interfaces)
    assert interfaces["db:table t"]["checks"] == [{"kind": "schema", "ref": "stand-in"}]
