"""docs/inputs.md's examples load with the loaders a run uses and fit the schemas `interlock schema` lists."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from interlock import baseline
from interlock.documents import load_document
from interlock.errors import ConfigError
from interlock.phases.scope import read_features, read_version
from interlock.reference import DOCUMENTS, document_names, document_schema

DOC = Path(__file__).resolve().parents[2] / "docs" / "inputs.md"
EXAMPLE = re.compile(r"<!-- example: (?P<name>[\w-]+) (?P<fmt>\w+) -->\n```\w*\n(?P<body>.*?)```", re.DOTALL)
SUFFIX = {"json": ".json", "yaml": ".yaml", "md": ".md", "toml": ".toml"}


def examples(name: str) -> list[tuple[str, str]]:
    found = [(m["fmt"], m["body"]) for m in EXAMPLE.finditer(DOC.read_text("utf-8")) if m["name"] == name]
    assert found, f"docs/inputs.md has no example of {name}"
    return found


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = document_schema(name)
    assert schema is not None
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_interlock_schema_lists_the_config_and_every_input() -> None:
    assert document_names() == ["interlock.toml", *DOCUMENTS]
    assert document_schema("no-such-input") is None


def test_the_feature_list_examples_read_the_same_in_every_format(tmp_path: Path) -> None:
    read: list[Any] = []
    for fmt, body in examples("feature-list"):
        path = tmp_path / f"features{SUFFIX[fmt]}"
        path.write_text(body, "utf-8")
        read.append(read_features(path))
        assert read_version(path, "version") == "1.0.0", fmt
        if fmt != "md":
            assert list(validator("feature-list").iter_errors(load_document(path))) == [], fmt
    assert len(read) == 3 and read[0] == read[1] == read[2]
    assert [f["id"] for f in read[0]] == ["F-1", "F-2", "F-3"]  # the open checklist item is not a delivered feature


def test_the_feature_list_schema_refuses_an_interface_without_its_service() -> None:
    bad = {"features": [{"id": "F-1", "interfaces": ["GET /products"]}]}
    assert [e.message for e in validator("feature-list").iter_errors(bad)]


def test_the_baseline_examples_load_alike_and_fit_the_schema(tmp_path: Path) -> None:
    loaded = []
    for fmt, body in examples("environment-baseline"):
        path = tmp_path / f"baseline{SUFFIX[fmt]}"
        path.write_text(body, "utf-8")
        data = load_document(path)
        assert list(validator("environment-baseline").iter_errors(data)) == [], fmt
        loaded.append(baseline.parse(data, path.name))
    toml, yaml = loaded
    assert (toml.versions, toml.service_env, toml.variables, toml.secrets) == (yaml.versions, yaml.service_env, yaml.variables, yaml.secrets)
    assert toml.secrets == {"API_KEY": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}


@pytest.mark.parametrize("variables", [{"A": ["x"]}, {"A": {"sha256": "short"}}])
def test_the_baseline_schema_refuses_what_the_loader_refuses(variables: dict[str, Any]) -> None:
    assert list(validator("environment-baseline").iter_errors({"variables": variables}))
    with pytest.raises(ConfigError):
        baseline.parse({"variables": variables}, "baseline.toml")


def test_the_version_example_is_what_a_contracts_folder_declares(tmp_path: Path) -> None:
    [(_, body)] = examples("contracts-version")
    (tmp_path / "VERSION").write_text(body, "utf-8")
    version = read_version(tmp_path, "version")
    assert version == "1.0.0"
    assert list(validator("contracts-version").iter_errors(version)) == []
    assert list(validator("contracts-version").iter_errors("1.0 beta"))
