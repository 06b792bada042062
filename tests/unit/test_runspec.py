"""One resolved run (interlock.runspec): built once, immutable, every placeholder filled, one redactor, the options as data."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from interlock import runspec
from interlock.artifacts import ArtifactDir
from interlock.config import load
from interlock.context import RunContext
from interlock.shards import Shard
from tests.support import config_head

TOML = config_head() + """
[services.web]
[services.api]
[environments.test]
vars = { API_TOKEN = "s3cret-token-value", HOME_OF_RUN = "{workdir}/home" }
[environments.test.services.web]
command = ["{python}", "-m", "http.server", "{port:web}"]
port = "auto"
url = "http://127.0.0.1:{port:web}"
health = "{url:web}/health"
env = { OTHER = "{url:api}", OUT = "{artifacts}/out" }
[environments.test.services.api]
port = 4321
url = "http://user:pa55word-long@127.0.0.1:{port:api}"
"""


@pytest.fixture
def loaded(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "interlock.toml").write_text(TOML, "utf-8")
    return load(tmp_path / "interlock.toml")


def test_the_spec_is_frozen_and_carries_the_commands_options(loaded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec = runspec.build(loaded, "test", only=["b", "a", "b"], approver="Ann", key=tmp_path / "k", pytest_args=["-k", "x"],
                         last_failed=True, shard=Shard(1, 2))
    assert (spec.only, spec.approver, spec.key, spec.pytest_args, spec.last_failed, spec.shard) == (
        ("b", "a"), "Ann", tmp_path / "k", ("-k", "x"), True, Shard(1, 2))
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.only = ()  # type: ignore[misc]


def test_fixed_placeholders_are_filled_at_build_and_auto_ports_once_bound(loaded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec = runspec.build(loaded, "test", artifacts=tmp_path / "art")
    api, web = spec.environment.services["api"], spec.environment.services["web"]
    assert api.url == "http://user:pa55word-long@127.0.0.1:4321"
    assert web.command == [sys.executable, "-m", "http.server", "{port:web}"]  # no port reserved yet: left as written
    assert web.env == {"OTHER": "http://user:pa55word-long@127.0.0.1:4321", "OUT": f"{tmp_path / 'art'}/out"}
    assert spec.environment.vars["HOME_OF_RUN"] == f"{loaded.root / '.interlock' / 'test'}/home"
    assert spec.raw.services["web"].url == "http://127.0.0.1:{port:web}"  # the config as written stays reachable
    bound = spec.bind(tmp_path / "staging", {"web": 5555})
    assert bound.environment.services["web"].url == "http://127.0.0.1:5555"
    assert bound.environment.services["web"].health == "http://127.0.0.1:5555/health"
    assert bound.environment.services["web"].env["OUT"] == f"{tmp_path / 'staging'}/out"
    assert dict(bound.ports) == {"api": 4321, "web": 5555} and spec.ports == {"api": 4321}


def test_one_redactor_from_the_filled_environment(loaded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec = runspec.build(loaded, "test")
    assert spec.redactor.text("token s3cret-token-value, password pa55word-long") == "token ***, password ***"
    ctx = RunContext(spec, ArtifactDir(tmp_path / "art"), lambda e: None, lambda k: (False, "test"), "run1")
    assert ctx.redactor is ctx.spec.redactor and ctx.artifacts.redactor is ctx.spec.redactor
    assert ctx.env is ctx.spec.environment and ctx.env.services["web"].url == f"http://127.0.0.1:{ctx.ports['web']}"


def test_strings_outside_the_environment_are_expanded_by_the_spec(loaded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec = runspec.build(loaded, "test").bind(tmp_path, {"web": 6000})
    assert spec.expand_all({"url": "{url:web}/x", "cmd": ["{python}", "{port:api}"], "n": 3}) == {
        "url": "http://127.0.0.1:6000/x", "cmd": [sys.executable, "4321"], "n": 3}


def test_repository_is_the_named_checkout_else_the_configs_folder(tmp_path: Path) -> None:
    import subprocess

    system = tmp_path / "system"
    system.mkdir()
    subprocess.run(["git", "-C", str(system), "init", "-q"], check=True)
    qa = tmp_path / "qa"
    qa.mkdir()
    text = TOML.replace('HOME_OF_RUN = "{workdir}/home"', 'CODE = "{repository}/src"')
    (qa / "interlock.toml").write_text(text, "utf-8")
    assert runspec.build(load(qa / "interlock.toml"), "test").environment.vars["CODE"] == f"{qa}/src"
    (qa / "interlock.toml").write_text(text.replace("[project]\n", '[project]\nrepository = "../system"\n', 1), "utf-8")
    assert runspec.build(load(qa / "interlock.toml"), "test").environment.vars["CODE"] == f"{system}/src"
