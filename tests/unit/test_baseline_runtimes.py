"""Runtime versions of every service (issue 17 item 2): any [versions] key is read and checked, or refused; never skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interlock import baseline as bl
from interlock.baseline_checks import compare_runtimes
from interlock.config import load
from interlock.inputs import document_problems
from tests.unit.test_config import MINIMAL


@pytest.mark.parametrize(("output", "version"), [
    ("v20.11.1\n", "20.11.1"), ("go version go1.22.1 linux/amd64", "1.22.1"), ('openjdk version "17.0.2" 2022-01-18', "17.0.2"),
    ("ruby 3.2.2p53 (2023-03-30)", "3.2.2"), ("rustc 1.75.0 (82e1608df 2023-12-21)", "1.75.0"), ("8.0.100", "8.0.100"), ("26\n", "26"),
    ("command not found", None), ("", None),
])
def test_the_version_is_the_first_version_like_text(output: str, version: str | None) -> None:
    assert bl.version_text(output) == version


BASELINE = bl.Baseline("env/baseline.toml", versions={"node": ">=99", "go": ">=1.21"})


def test_a_runtime_below_its_range_fails_naming_it_and_what_was_read() -> None:
    [node, go] = compare_runtimes(BASELINE, {"node": [("this machine", "20.11.1", "`node --version`")], "go": [("api", "1.22.1", "`go version`")]})
    assert (node.id, node.passed) == ("baseline.versions.node", False)
    assert node.reason == "node 20.11.1 (this machine, read by `node --version`) does not satisfy >=99"
    assert go.passed and go.details["observed"] == "1.22.1"


def test_a_runtime_nobody_could_read_fails_and_each_service_gets_its_own_check() -> None:
    found = compare_runtimes(BASELINE, {"node": [("web", None, "`node --version`: node is not installed or not on PATH"), ("api", "99.1.0", "GET x")]})
    assert [(c.id, c.passed) for c in found] == [("baseline.versions.node.web", False), ("baseline.versions.node.api", True)]
    assert "could not be read (`node --version`: node is not installed" in found[0].reason


def project(tmp_path: Path, versions: str, services: str = "") -> Path:
    text = MINIMAL.replace('sha256 = "%s"' % ("0" * 64), 'version = "1"').replace('openapi = "api.yaml"\n', services)
    (tmp_path / "f.json").write_text(json.dumps({"version": "1", "features": []}))
    (tmp_path / "contracts").mkdir(exist_ok=True)
    (tmp_path / "contracts" / "VERSION").write_text("1\n")
    (tmp_path / "b.toml").write_text(f'version = "1"\n[versions]\n{versions}')
    (tmp_path / "interlock.toml").write_text(text)
    return tmp_path / "interlock.toml"


def test_config_check_refuses_a_key_nothing_can_read_naming_file_key_and_what_to_add(tmp_path: Path) -> None:
    [problem] = document_problems(load(project(tmp_path, 'python = ">=3.11"\nnode = ">=18"\nsqlite = ">=3"\nzig = ">=0.11"\n')))
    assert (problem.file, problem.key) == ("b.toml", "versions.zig")
    assert 'give the service that runs on it `runtime = "zig"` and `version_command = [...]` (or `version_url`)' in problem.message


def test_a_service_runtime_with_a_reader_covers_its_key(tmp_path: Path) -> None:
    services = 'runtime = "zig"\nversion_command = ["zig", "version"]\n'
    assert document_problems(load(project(tmp_path, 'zig = ">=0.11"\n', services))) == []


def test_a_service_runtime_must_be_readable_and_have_a_range(tmp_path: Path) -> None:
    found = document_problems(load(project(tmp_path, 'python = ">=3.11"\n', 'runtime = "zig"\n')))
    assert [p.key for p in found] == ["services.api.runtime", "services.api.runtime"]
    assert "no built-in reader for runtime 'zig'" in found[0].message
    assert "has no [versions] 'zig' to check service 'api' against" in found[1].message


@pytest.mark.parametrize(("service", "message"), [
    ('version_command = ["node", "--version"]\n', "a version reader needs `runtime`"),
    ('runtime = "node"\nversion_command = ["node", "--version"]\nversion_url = "http://x/v"\n', "give one of `version_command` and `version_url`"),
    ('runtime = "node"\nversion_path = "a.b"\n', "`version_path` needs `version_url`"),
])
def test_a_version_reader_is_refused_when_it_cannot_mean_one_thing(tmp_path: Path, service: str, message: str) -> None:
    from interlock.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        load(project(tmp_path, 'node = ">=18"\n', service))
    assert message in info.value.problems[0].message


def test_a_version_url_naming_no_service_is_refused_at_its_line() -> None:
    from interlock.config import parse
    from interlock.errors import ConfigError

    text = MINIMAL.replace('openapi = "api.yaml"\n', 'runtime = "node"\nversion_url = "{url:nope}/version"\n')
    with pytest.raises(ConfigError) as info:
        parse(text, Path("interlock.toml"))
    [problem] = info.value.problems
    assert (problem.key, problem.line) == ("services.api.version_url", 19) and "'nope' is not a declared service" in problem.message
