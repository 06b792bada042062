"""`interlock schema`, `interlock config schema` and `interlock config check` as a user types them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from interlock.reference import schema_text
from tests.unit.test_config import MINIMAL


def invoke(root: Path, *args: str) -> tuple[int, str, str]:
    """The real entry point (`python -m interlock`), whose error handling turns problems into lines and exit 2."""
    done = subprocess.run([sys.executable, "-m", "interlock", *args], cwd=root, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


def test_config_schema_prints_or_writes_the_generated_schema(tmp_path: Path) -> None:
    code, out, _ = invoke(tmp_path, "config", "schema", "--output", "interlock.schema.json")
    assert code == 0 and "wrote interlock.schema.json" in out
    assert (tmp_path / "interlock.schema.json").read_text("utf-8") == schema_text()


def test_schema_lists_and_prints_the_config_and_input_schemas(tmp_path: Path) -> None:
    code, out, _ = invoke(tmp_path, "schema")
    assert code == 0 and {"gate-results", "interlock.toml", "feature-list", "environment-baseline", "contracts-version"} <= set(out.split())
    code, _, err = invoke(tmp_path, "schema", "feature-lst")
    assert code == 2 and "no schema named 'feature-lst'" in err and "feature-list" in err and "Traceback" not in err


def test_config_check_names_every_missing_source_and_speaks_interlock(tmp_path: Path) -> None:
    text = (MINIMAL + '\n[contracts.pact]\nsources = ["a", "b", "c", "d"]\n'
            '[contracts.pact.states."s"]\nsetup = "seed the database"\n')
    (tmp_path / "interlock.toml").write_text(text, "utf-8")
    code, _, err = invoke(tmp_path, "config", "check")
    assert code == 2
    assert "[contracts.pact.states.s.setup]: `setup` must be one action table ({command=[...]}, {http={...}} or {sql=..., store=...})" in err
    assert "Input should" not in err and "Traceback" not in err
    (tmp_path / "interlock.toml").write_text(text.replace('setup = "seed the database"', 'setup = { command = ["true"] }'), "utf-8")
    code, _, err = invoke(tmp_path, "config", "check")
    assert code == 2
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.startswith("sources = "))
    for index, name in enumerate("abcd"):
        assert f"interlock.toml:{line} [contracts.pact.sources.{index}]: pact source {name!r} does not exist" in err, err
