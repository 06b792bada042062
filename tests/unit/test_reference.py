"""The config reference is generated from the models, describes every key, and fails a test when it is stale."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, Field

from interlock import config as config_mod
from interlock import policy, reference

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "config.md"
SHOP = ROOT / "examples" / "shop" / "interlock.toml"


def _models() -> list[type[BaseModel]]:
    found = [v for m in (config_mod, policy) for v in vars(m).values()
             if isinstance(v, type) and issubclass(v, policy.Model) and v.__module__ == m.__name__]
    return sorted(set(found), key=lambda m: m.__name__)


def test_docs_config_md_is_the_generated_reference() -> None:
    assert DOCS.read_text("utf-8") == reference.markdown(), (
        f"docs/config.md is stale: a config model changed; run `{reference.REGENERATE}` and commit docs/config.md")


@pytest.mark.parametrize("model", _models(), ids=lambda m: m.__name__)
def test_every_key_has_a_description_and_an_example(model: type[BaseModel]) -> None:
    for name, field in model.model_fields.items():
        if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("internal"):
            continue
        assert field.description and len(field.description) > 10, f"{model.__name__}.{name} has no real description"
        assert field.examples, f"{model.__name__}.{name} has no example"


class _Suite(config_mod.Suite):
    retries: int = Field(default=0, description="a key added to a model after docs/config.md was generated", examples=[2])


class _Config(config_mod.Config):
    suite: _Suite = Field(default=_Suite(), description="the suite, with one more key", examples=[{"retries": 2}])


def test_a_changed_model_makes_the_docs_stale() -> None:
    """The reference follows the models: one more key is one more row, so the committed file no longer matches."""
    changed = reference.markdown(reference.config_schema(_Config))
    assert "| `retries` | integer | `0` | a key added to a model after docs/config.md was generated | `2` |" in changed
    assert changed != DOCS.read_text("utf-8")


def test_the_check_mode_fails_and_names_the_command(tmp_path: Path) -> None:
    script = (ROOT / "scripts" / "gen_config_docs.py").read_text("utf-8")
    copy = tmp_path / "scripts" / "gen_config_docs.py"
    copy.parent.mkdir()
    copy.write_text(script.replace('ROOT / "src"', f'Path({str(ROOT / "src")!r})'), "utf-8")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "config.md").write_text(DOCS.read_text("utf-8").replace("| `marker` |", "| `markr` |"), "utf-8")
    stale = subprocess.run([sys.executable, str(copy), "--check"], capture_output=True, text=True)
    assert stale.returncode == 1 and "python scripts/gen_config_docs.py" in stale.stdout
    subprocess.run([sys.executable, str(copy)], check=True, capture_output=True)
    assert subprocess.run([sys.executable, str(copy), "--check"], capture_output=True).returncode == 0


def test_the_docs_name_every_key_of_every_table() -> None:
    text = reference.markdown()
    for model in _models():
        for name, field in model.model_fields.items():
            if not (isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("internal")):
                assert f"| `{field.alias or name}` |" in text, f"{model.__name__}.{name} is missing from docs/config.md"
    assert "| `exclude` |" in text  # [contracts.pact] exclude, read by Contracts, documented where it is written


def _toml_data(path: Path) -> Any:
    return tomllib.loads(path.read_text("utf-8"))


def test_the_schema_accepts_the_demo_config_and_refuses_what_the_loader_refuses() -> None:
    validator = jsonschema.Draft202012Validator(reference.config_schema(), format_checker=None)
    data = _toml_data(SHOP)
    for waiver in data.get("waivers", []):
        waiver["expires"] = waiver["expires"].isoformat()  # a TOML date-time is a string to an editor's schema
    assert list(validator.iter_errors(data)) == []
    data["services"]["orders"]["opnapi"] = "x.yaml"
    data["contracts"]["pact"]["request_timeout_ms"] = 0
    messages = [e.message for e in validator.iter_errors(data)]
    assert any("opnapi" in m for m in messages) and any("0" in m for m in messages), messages


def test_schema_text_is_stable_and_described() -> None:
    text = reference.schema_text()
    assert text == reference.schema_text() and text.endswith("}\n")
    schema = reference.config_schema()
    assert schema["$schema"] == reference.SCHEMA_DIALECT and schema["additionalProperties"] is False
    http = schema["$defs"]["HttpCall"]["properties"]
    assert "json" in http and "json_body" not in http  # keys as they are written
