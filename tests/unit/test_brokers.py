"""The broker registry: every kind provides every part, and the config accepts exactly the registered kinds."""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from interlock import brokers
from interlock.brokers.base import BrokerKind, Captured, CaptureFailed
from interlock.checks import Check
from interlock.config import parse
from interlock.errors import ConfigError

CONFIG = """[project]
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

[services.api]
openapi = "api.yaml"

[environments.integration.services.api]
url = "http://127.0.0.1:1"

[environments.integration.brokers.bus]
kind = "%s"
url = "x://127.0.0.1:1"
"""
KIND_LINE = CONFIG.splitlines().index('kind = "%s"') + 1


@pytest.mark.parametrize("name", list(brokers.KINDS))
def test_every_registered_kind_provides_every_part(name: str) -> None:
    kind = brokers.KINDS[name]
    assert isinstance(kind, BrokerKind) and kind.name == name
    assert isinstance(kind.component, str) and kind.component
    assert kind.default_port is None or (isinstance(kind.default_port, int) and 0 < kind.default_port < 65536)
    assert inspect.iscoroutinefunction(kind.probe)
    assert list(inspect.signature(kind.probe).parameters) == ["check_id", "broker", "version_spec", "timeout"]
    assert callable(kind.capture) and not inspect.iscoroutinefunction(kind.capture)
    assert list(inspect.signature(kind.capture).parameters) == ["broker", "topic", "trigger", "timeout", "settle"]
    assert kind.observed_version(None) is None or name == "embedded-log"  # a file's version is the local library's


@pytest.mark.parametrize("name", list(brokers.KINDS))
def test_the_config_accepts_every_registered_kind(name: str) -> None:
    config = parse(CONFIG % name, Path("interlock.toml"))
    assert config.environments["integration"].brokers["bus"].kind == name


@pytest.mark.parametrize(("kind", "hint"), [("nat", "did you mean `nats`?"), ("kafka", "known kinds: " + ", ".join(brokers.KINDS))])
def test_an_unknown_kind_is_a_config_error_at_its_line(kind: str, hint: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(CONFIG % kind, Path("interlock.toml"))
    [problem] = info.value.problems
    assert (problem.key, problem.line) == ("environments.integration.brokers.bus.kind", KIND_LINE)
    assert problem.message == f"unknown broker kind {kind!r}; {hint}"


def test_config_check_refuses_an_unknown_kind_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "interlock.toml").write_text(CONFIG % "kafak", "utf-8")
    done = subprocess.run([sys.executable, "-m", "interlock", "config", "check"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    [line] = done.stderr.strip().splitlines()
    assert line == (f"interlock: error: {tmp_path / 'interlock.toml'}:{KIND_LINE} [environments.integration.brokers.bus.kind]: "
                    f"unknown broker kind 'kafak'; known kinds: {', '.join(brokers.KINDS)}")


def test_a_kind_added_to_the_registry_is_accepted_probed_and_captured(monkeypatch: pytest.MonkeyPatch) -> None:
    """One table entry is all a new kind needs: the config, the probe and the capture find it there."""
    seen: list[Any] = []

    async def probe(check_id: str, broker: Mapping[str, Any], version_spec: str | None, timeout: float) -> Check:
        seen.append(("probe", broker["url"], version_spec))
        return Check(check_id, "fakemq", broker["url"]).ok("answers", server_version="1.2")

    def capture(broker: Mapping[str, Any], topic: str, trigger: Callable[[], None], timeout: float, settle: float) -> list[Captured]:
        trigger()
        return [Captured(topic.encode())]

    monkeypatch.setitem(brokers.KINDS, "fakemq", BrokerKind("fakemq", "fakemq", 9999, probe, capture))
    config = parse(CONFIG % "fakemq", Path("interlock.toml"))
    broker = config.environments["integration"].brokers["bus"]
    kind = brokers.KINDS[broker.kind]
    check = asyncio.run(kind.probe("bus", broker.model_dump(), ">=1", 1.0))
    assert (check.status, kind.observed_version(check)) == ("pass", "1.2")
    assert brokers.capture_messages({"kind": "fakemq", "url": "x"}, "t", lambda: seen.append("triggered"), 1.0) == [Captured(b"t")]
    assert seen == [("probe", "x://127.0.0.1:1", ">=1"), "triggered"]


def test_capturing_from_an_unregistered_kind_is_a_capture_failure() -> None:
    with pytest.raises(CaptureFailed, match="capturing messages from a kafka broker is not implemented"):
        brokers.capture_messages({"kind": "kafka", "url": "x"}, "t", lambda: None, 0.1)


def test_loading_the_registry_loads_no_broker_client() -> None:
    """The config imports the registry; a broker client (or SQLAlchemy) is loaded only when a probe or capture runs."""
    code = "import sys, interlock.brokers; print(sorted(m for m in ('aio_pika', 'nats', 'paho', 'redis', 'sqlalchemy') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("mode", ["stream", "pubsub"])
def test_a_redis_broker_reads_a_stream_or_a_channel(mode: str) -> None:
    config = parse(CONFIG % "redis" + f'mode = "{mode}"\n', Path("interlock.toml"))
    assert config.environments["integration"].brokers["bus"].mode == mode
    assert parse(CONFIG % "redis", Path("interlock.toml")).environments["integration"].brokers["bus"].mode == "stream"


@pytest.mark.parametrize(("kind", "mode", "message"), [
    ("redis", "channel", "must be one of 'stream' or 'pubsub'"),
    ("nats", "pubsub", "`mode` applies to kind `redis` only; a nats broker has no mode"),
])
def test_a_wrong_mode_is_a_config_error_at_the_broker(kind: str, mode: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(CONFIG % kind + f'mode = "{mode}"\n', Path("interlock.toml"))
    [problem] = info.value.problems
    assert problem.key.startswith("environments.integration.brokers.bus") and message in problem.message, problem


def test_a_redis_capture_in_an_unknown_mode_names_the_key_and_the_mode() -> None:
    with pytest.raises(CaptureFailed, match="Redis broker mode 'list' for key 'admissions' is not one of 'stream', 'pubsub'"):
        brokers.capture_messages({"kind": "redis", "url": "redis://127.0.0.1:1", "mode": "list"}, "admissions", lambda: None, 1.0)


@pytest.mark.parametrize(("message", "expected"), [
    (Captured(b"<a>1</a>", {}, "text/plain"), "text/plain"),  # the protocol's own content type wins over the bytes
    (Captured(b"<a>1</a>", {"Content-Type": "application/vnd.x+xml"}), "application/vnd.x+xml"),  # then a header
    (Captured(b"<a>1</a>", {"contentType": "text/xml"}), "text/xml"),
    (Captured(b'{"a": 1}'), "application/json"),  # no content type carried: assumed from the bytes, as Pact does
    (Captured(b' <a x="1"><b/></a>'), "application/xml"),
    (Captured(b"<not xml"), "text/plain"),
    (Captured(b"patient 42 admitted"), "text/plain"),
    (Captured(b"\xff\xfe\x00binary"), "application/octet-stream"),
])
def test_a_message_keeps_the_content_type_it_was_produced_with(message: Captured, expected: str) -> None:
    from interlock.brokers.base import produced_type

    assert produced_type(message) == expected


def test_the_configs_modes_are_the_registrys() -> None:
    """One definition: the config's `mode` values are the modes the registered kinds read in."""
    import typing

    from interlock.config import Broker

    assert set(typing.get_args(Broker.model_fields["mode"].annotation)) == {m for kind in brokers.KINDS.values() for m in kind.modes}
    assert Broker.model_fields["mode"].default == next(kind.modes[0] for kind in brokers.KINDS.values() if kind.modes)
