"""scaffold (`interlock init`): a config that parses, the protocol's three shims, and pytest markers only where none exist."""

from __future__ import annotations

import json
import os
import tomllib
import stat
from pathlib import Path

import jsonschema
import pytest

from interlock.config import parse
from interlock.errors import UsageError
from interlock.reference import SCHEMA_FILE, schema_text
from interlock.scaffold import SHIMS, scaffold


def test_init_writes_a_valid_config_executable_shims_and_the_markers(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    root.mkdir()
    written = scaffold(root, lambda event: None)
    assert sorted(p.relative_to(root).as_posix() for p in written) == sorted(
        ["interlock.toml", "interlock.schema.json", "pytest.ini", *(f"scripts/{name}" for name in SHIMS)])
    config = parse((root / "interlock.toml").read_text("utf-8"), root / "interlock.toml")
    assert config.project.name == "shop" and list(config.services) == ["api"]
    for name, (command, _) in SHIMS.items():
        shim = root / "scripts" / name
        assert os.stat(shim).st_mode & stat.S_IXUSR
        assert f'sys.argv = ["interlock", "{command}", *sys.argv[1:]]' in shim.read_text("utf-8")
    assert "integration:" in (root / "pytest.ini").read_text("utf-8")


@pytest.mark.parametrize(("name", "text"), [("pytest.ini", "[pytest]\n"), ("pyproject.toml", "[tool.pytest.ini_options]\n"),
                                            ("setup.cfg", "[tool:pytest]\n"), ("tox.ini", "[pytest]\n")])
def test_an_existing_pytest_config_is_left_alone(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    written = scaffold(tmp_path, lambda event: None)
    assert tmp_path / "pytest.ini" not in written
    assert (tmp_path / name).read_text() == text


def test_init_never_overwrites_without_force(tmp_path: Path) -> None:
    (tmp_path / "interlock.toml").write_text("# mine\n")
    with pytest.raises(UsageError, match="already exists; pass --force to overwrite"):
        scaffold(tmp_path, lambda event: None)
    assert (tmp_path / "interlock.toml").read_text() == "# mine\n" and not (tmp_path / "scripts").exists()
    scaffold(tmp_path, lambda event: None, force=True)
    assert (tmp_path / "interlock.toml").read_text() != "# mine\n"


def test_init_names_the_schema_beside_the_config_for_toml_editors(tmp_path: Path) -> None:
    """taplo / Even Better TOML read a first-line `#:schema` path relative to the TOML file; it must name the written schema."""
    scaffold(tmp_path, lambda event: None)
    text = (tmp_path / "interlock.toml").read_text("utf-8")
    first = text.splitlines()[0]
    assert first == f"#:schema ./{SCHEMA_FILE}"
    schema = json.loads((tmp_path / SCHEMA_FILE).read_text("utf-8"))
    assert (tmp_path / SCHEMA_FILE).read_text("utf-8") == schema_text()
    validator = jsonschema.Draft202012Validator(schema)
    data = tomllib.loads(text)
    assert list(validator.iter_errors(data)) == []
    data["suite"]["markr"] = "typo"
    assert [e.message for e in validator.iter_errors(data)] == ["Additional properties are not allowed ('markr' was unexpected)"]
