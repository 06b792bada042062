"""interlock.toml loading: typed models, every problem at once with file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlock.config import key_lines, load, parse
from interlock.errors import ConfigError

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop" / "interlock.toml"

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
sha256 = "%s"

[services.api]
openapi = "api.yaml"

[environments.integration.services.api]
url = "http://127.0.0.1:1"
""" % ("0" * 64)


def problems(text: str) -> list:
    with pytest.raises(ConfigError) as info:
        parse(text, Path("interlock.toml"))
    return info.value.problems


def test_demo_config_loads() -> None:
    loaded = load(SHOP)
    assert set(loaded.config.environments) == {"integration", "production-like"}
    assert loaded.config.contracts.pact is not None
    assert loaded.config.contracts.pact.messages["an order created event"].topic == "order.created"


def test_minimal_config_parses() -> None:
    config = parse(MINIMAL, Path("interlock.toml"))
    assert config.environments["integration"].services["api"].url == "http://127.0.0.1:1"


def test_unknown_key_names_line_and_suggests() -> None:
    text = MINIMAL.replace('openapi = "api.yaml"', 'opnapi = "api.yaml"')
    [problem] = problems(text)
    assert problem.key == "services.api.opnapi"
    assert problem.line == text.splitlines().index('opnapi = "api.yaml"') + 1
    assert "did you mean `openapi`" in problem.message


def test_every_problem_is_reported_at_once() -> None:
    text = MINIMAL.replace('version = "1"\n\n[prerequisites.architecture', '\n[prerequisites.architecture').replace('url = "http://127.0.0.1:1"', 'url = 5\nstart_timeout = -1')
    found = problems(text)
    keys = {p.key for p in found}
    assert "prerequisites.feature_list" in keys
    assert "environments.integration.services.api.url" in keys
    assert "environments.integration.services.api.start_timeout" in keys
    assert all(p.line is not None for p in found)


def test_syntax_error_has_line() -> None:
    [problem] = problems(MINIMAL + "\n[broken\n")
    assert problem.line == len(MINIMAL.splitlines()) + 2
    assert "not valid TOML" in problem.message


def test_reference_to_undeclared_service() -> None:
    text = MINIMAL + '\n[environments.integration.services.ghost]\nurl = "http://x"\n'
    [problem] = problems(text)
    assert "ghost" in problem.message and problem.key == "environments.integration.services.ghost"


def test_waiver_needs_utc() -> None:
    text = MINIMAL + '\n[[waivers]]\ncondition = "contracts.failed"\njustification = "j"\napprover = "a"\nticket = "T-1"\nexpires = 2030-01-01T00:00:00\n'
    [problem] = problems(text)
    assert problem.key == "waivers.0.expires" and "UTC" in problem.message


def test_key_lines_tables_and_arrays() -> None:
    lines = key_lines('[a]\nx = 1\n[[w]]\nt = 1\n[[w]]\nt = 2\n[b."q.r"]\ns = 1\n')
    assert lines[("a", "x")] == 2
    assert lines[("w", 1, "t")] == 6
    assert lines[("b", "q.r", "s")] == 8


def test_non_utf8_config(tmp_path: Path) -> None:
    path = tmp_path / "interlock.toml"
    path.write_bytes(b'[project]\nname = "\xff"\n')
    with pytest.raises(ConfigError) as info:
        load(path)
    assert info.value.problems[0].line == 2
