"""Pact sources are read recursively; a pact in the architecture contracts that no source declares fails Gate 1
unless `[contracts.pact] exclude` names it (which works with no other [contracts.pact] key)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from interlock.config import parse

from interlock.policy import Gates
from interlock.documents import is_pact, pact_files, undeclared_pacts
from interlock.errors import ConfigError
from interlock.gates import Metric, evaluate

from .test_config import MINIMAL

PACT = {"consumer": {"name": "web"}, "provider": {"name": "api"}, "interactions": []}
MESSAGES = {"consumer": {"name": "shipping"}, "provider": {"name": "orders"}, "messages": []}


def _write(root: Path, rel: str, data: object) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data), "utf-8")
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    _write(tmp_path, "contracts/pacts/web-api.json", PACT)
    _write(tmp_path, "contracts/pacts/v2/web-api-v2.json", PACT)  # one folder below the declared source
    _write(tmp_path, "contracts/legacy/old-web-api.json", PACT)  # in the architecture contracts, declared by nobody
    _write(tmp_path, "contracts/events/deep/shipping-orders.json", MESSAGES)
    _write(tmp_path, "contracts/schema/catalog.json", {"type": "object", "properties": {"consumer": {}}})  # JSON, not a pact
    _write(tmp_path, "contracts/broken.json", "{not json")
    _write(tmp_path, "contracts/openapi.yaml", "openapi: 3.1.0\n")
    return tmp_path


def test_folder_sources_are_read_recursively(tree: Path) -> None:
    found = pact_files(tree, ["contracts/pacts"])
    assert [p.relative_to(tree.resolve()).as_posix() for p in found] == ["contracts/pacts/v2/web-api-v2.json", "contracts/pacts/web-api.json"]


def test_pacts_are_told_from_other_json(tree: Path) -> None:
    assert is_pact(tree / "contracts/pacts/web-api.json") and is_pact(tree / "contracts/events/deep/shipping-orders.json")
    assert not is_pact(tree / "contracts/schema/catalog.json") and not is_pact(tree / "contracts/broken.json")


def test_a_pact_no_source_declares_is_named(tree: Path) -> None:
    declared = pact_files(tree, ["contracts/pacts"])
    assert undeclared_pacts(tree, tree / "contracts", declared, []) == [
        "contracts/events/deep/shipping-orders.json", "contracts/legacy/old-web-api.json"]
    declared += pact_files(tree, ["contracts/events/deep/shipping-orders.json"])  # a file source declares that one file
    assert undeclared_pacts(tree, tree / "contracts", declared, []) == ["contracts/legacy/old-web-api.json"]


def test_exclude_globs_match_paths_relative_to_the_project(tree: Path) -> None:
    declared = pact_files(tree, ["contracts/pacts"])
    assert undeclared_pacts(tree, tree / "contracts", declared, ["contracts/legacy/*", "contracts/events/*.json"]) == []
    assert undeclared_pacts(tree, tree / "contracts", declared, ["legacy/*"]) == [
        "contracts/events/deep/shipping-orders.json", "contracts/legacy/old-web-api.json"]  # not relative to the folder


def test_without_any_pact_source_every_pact_in_the_folder_is_undeclared(tree: Path) -> None:
    assert len(undeclared_pacts(tree, tree / "contracts", [], [])) == 4
    assert undeclared_pacts(tree, tree / "missing", [], []) == []


def test_exclude_works_without_any_other_pact_key() -> None:
    config = parse(MINIMAL + '\n[contracts.pact]\nexclude = ["contracts/legacy/*.json"]\n', Path("interlock.toml"))
    assert config.contracts.pact is None  # nothing to verify: the table only excludes
    assert config.contracts.pact_exclude == ["contracts/legacy/*.json"]


def test_exclude_beside_sources_keeps_the_sources() -> None:
    config = parse(MINIMAL + '\n[contracts.pact]\nsources = ["contracts/pacts"]\nexclude = ["x/*.json"]\n', Path("interlock.toml"))
    assert config.contracts.pact is not None and config.contracts.pact.sources == ["contracts/pacts"]
    assert config.contracts.pact_exclude == ["x/*.json"]


@pytest.mark.parametrize("value", ['"contracts/*.json"', "[1]", '[""]'])
def test_a_bad_exclude_is_a_config_error(value: str) -> None:
    with pytest.raises(ConfigError, match=r"\[contracts.pact\] exclude must be a list of glob strings"):
        parse(MINIMAL + f"\n[contracts.pact]\nexclude = {value}\n", Path("interlock.toml"))


def test_an_undeclared_pact_fails_gate_1_by_name() -> None:
    metrics = {"undeclared_pacts": Metric(1, items=["contracts/legacy/old-web-api.json"])}
    gate = evaluate(metrics, Gates(), [], datetime.now(timezone.utc), (1,))[0]
    row = next(c for c in gate["conditions"] if c["id"] == "scope.undeclared_pacts")
    assert gate["status"] == "fail" and row["status"] == "fail" and "contracts/legacy/old-web-api.json" in row["reason"]
    clean = evaluate({"undeclared_pacts": Metric(0)}, Gates(), [], datetime.now(timezone.utc), (1,))[0]
    assert next(c for c in clean["conditions"] if c["id"] == "scope.undeclared_pacts")["status"] == "pass"
