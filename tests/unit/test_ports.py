"""Who listens on a port, whose process tree it is, auto ports, and the checks built on them (interlock.ports, supervisor.Services).

Every pass here is made to fail by a real foreign listener: a socket of this
test process, or a server process the test starts itself.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from interlock import runspec
from interlock import metrics, ports
from interlock.artifacts import ArtifactDir
from interlock.config import load, parse
from interlock.errors import ConfigError
from interlock.context import RunContext
from tests.support import config_head, free_ports

SERVE = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1"]


@pytest.fixture
def listening() -> Iterator[socket.socket]:
    """A socket of this very process listening on a free port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", free_ports(1)[0]))
    sock.listen()
    try:
        yield sock
    finally:
        sock.close()


def test_listeners_name_the_process_through_psutil_and_through_proc(listening: socket.socket) -> None:
    port = listening.getsockname()[1]
    for found in (ports.listeners(port), ports._proc_listeners(port)):
        assert [(h.port, h.pid) for h in found] == [(port, os.getpid())], found
        assert found[0].cmdline and found[0].describe().startswith(f"pid {os.getpid()} (")
    listening.close()
    assert ports.listeners(port) == [] and ports._proc_listeners(port) == []


def test_a_listener_is_described_on_one_line_and_an_unknown_one_is_never_taken_for_ours() -> None:
    assert ports.Listener(1, "127.0.0.1", 7, "python", ("python", "-c", "import x\nx.run()")).describe() == "pid 7 (python -c import x x.run())"
    assert ports.Listener(1, "127.0.0.1", 7, "python", ("x" * 500,)).describe(width=20) == f"pid 7 ({'x' * 17}...)"
    assert "cannot identify" in ports.Listener(1, "127.0.0.1", None).describe()


def test_process_tree_holds_children_and_grandchildren_and_not_the_parent(tmp_path: Path) -> None:
    script = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); time.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 10
        while len(ports.process_tree(child.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        tree = ports.process_tree(child.pid)
        assert len(tree) == 2 and child.pid in tree and os.getpid() not in tree
        assert ports._proc_tree(child.pid) == tree
    finally:
        for pid in ports.process_tree(child.pid):
            os.kill(pid, 9)
        child.wait()
    assert ports.process_tree(child.pid) == set() and ports._proc_tree(child.pid) == set()


def test_urls_give_their_port_and_only_loopback_counts_as_local() -> None:
    assert ports.port_of("http://127.0.0.1:8080/health") == 8080
    assert ports.port_of("http://localhost/") == 80 and ports.port_of("https://x.example") == 443
    assert ports.port_of("sqlite:///x.db") is None and ports.port_of("http://[::1:99999/") is None
    assert all(map(ports.is_local, ["http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1", "http://127.0.0.5:1", "http://0.0.0.0:1"]))
    assert not any(map(ports.is_local, ["http://10.0.0.1:1", "http://shop.example:1", "http://:1"]))


def test_auto_ports_are_below_the_ephemeral_range_free_and_never_given_to_two_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = ports.Reservations(tmp_path), ports.Reservations(tmp_path)
    port = first.allocate()
    assert ports.AUTO_LOW <= port < min(ports.AUTO_HIGH, ports.ephemeral_low())
    assert not second.take(port), "another run's reserved port was handed out again"
    monkeypatch.setattr(ports.random, "randrange", lambda span: port - ports.AUTO_LOW)  # both runs start their search at `port`
    assert second.allocate() != port
    first.release(port)
    assert second.take(port) is False  # refused once: the run keeps using it and its port check tells
    assert ports.Reservations(tmp_path).take(port)


def test_an_auto_port_someone_listens_on_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    taken = sock.getsockname()[1]
    try:
        monkeypatch.setattr(ports, "AUTO_LOW", taken)
        monkeypatch.setattr(ports, "AUTO_HIGH", taken + 2)
        monkeypatch.setattr(ports, "ephemeral_low", lambda: 65536)
        monkeypatch.setattr(ports.random, "randrange", lambda span: 0)
        assert ports.Reservations(tmp_path).allocate() == taken + 1
        monkeypatch.setattr(ports, "AUTO_HIGH", taken + 1)
        with pytest.raises(OSError, match=f"no free port in 127.0.0.1:{taken}-{taken}"):
            ports.Reservations(tmp_path).allocate()
    finally:
        sock.close()


SERVICES = config_head() + """
[services.web]
[services.api]
[environments.test.services.web]
command = ["{python}", "-m", "http.server", "--bind", "127.0.0.1", "{port:web}"]
port = "auto"
url = "http://127.0.0.1:{port:web}"
health = "{url:web}/"
env = { SELF = "{url:web}", OTHER = "{url:api}" }
start_timeout = 15
[environments.test.services.api]
url = "http://127.0.0.1:%d"
"""


def context(tmp_path: Path, text: str, run_ports: dict[str, int] | None = None) -> RunContext:
    (tmp_path / "interlock.toml").write_text(text, "utf-8")
    return RunContext(runspec.build(load(tmp_path / "interlock.toml"), "test"), ArtifactDir(tmp_path / "art"), lambda e: None, lambda k: (False, "test"), "run1",
                      ports=run_ports if run_ports is not None else {})


def test_placeholders_give_one_port_per_run_and_a_resumed_run_its_recorded_one(tmp_path: Path) -> None:
    ctx = context(tmp_path, SERVICES % 9)
    port = ctx.port("web")
    assert port is not None and ctx.ports == {"web": port}
    assert ctx.spec.expand("{url:web}/x {port:web} {url:api}") == f"http://127.0.0.1:{port}/x {port} http://127.0.0.1:9"
    assert ctx.spec.expand("{port:api} {url:nope}") == "{port:api} {url:nope}"  # no port declared, no such service: left as written
    assert ctx.base_env()["INTERLOCK_SERVICE_WEB_URL"] == f"http://127.0.0.1:{port}"
    resumed = context(tmp_path, SERVICES % 9, {"web": 12345})
    assert resumed.spec.expand("{url:web}") == "http://127.0.0.1:12345" and resumed.port("web") == 12345
    fixed = context(tmp_path, (SERVICES % 9).replace('port = "auto"', "port = 4321"))
    assert fixed.spec.expand("{port:web}") == "4321" and fixed.ports == {}


def test_config_refuses_a_port_placeholder_without_a_port_and_an_unknown_service() -> None:
    text = (SERVICES % 9).replace('OTHER = "{url:api}"', 'OTHER = "{port:api}", NOPE = "{url:nope}"')
    with pytest.raises(ConfigError) as info:
        parse(text, Path("interlock.toml"))
    messages = {p.key: p.message for p in info.value.problems}
    assert "has no `port`" in messages["environments.test.services.web.env.OTHER"] and 'port = "auto"' in messages["environments.test.services.web.env.OTHER"]
    assert "'nope' is not a service" in messages["environments.test.services.web.env.NOPE"]
    assert all(p.line for p in info.value.problems)
    with pytest.raises(ConfigError, match="port"):
        parse((SERVICES % 9).replace('port = "auto"', 'port = "any"'), Path("interlock.toml"))


def _by_id(checks: list) -> dict:
    return {c.id: c for c in checks}


def test_a_started_service_passes_only_when_its_own_process_tree_serves_its_port(tmp_path: Path) -> None:
    ctx = context(tmp_path, SERVICES % 9)
    try:
        checks = _by_id(ctx.services.start())
        port = ctx.ports["web"]
        assert checks["web.port"].status == "pass" and checks["web.started"].status == "pass"
        assert checks["web.owner"].status == "pass", checks["web.owner"].reason
        assert checks["web.owner"].reason == f"port {port} served by web's process tree (pid {ctx.services.processes['web'].pid})"
        assert "api.port" not in checks and "api.owner" not in checks  # interlock does not start api
        record = ctx.services.port_record()
        assert record["web"] == {"port": port, "auto": True, "started_by_interlock": True, "probed": [port], "checks": ["web.port", "web.owner"]}
        assert record["api"]["checks"] == [] and record["api"]["started_by_interlock"] is False
    finally:
        ctx.services.stop()


def test_a_listener_whose_process_is_not_known_yet_is_looked_up_again_before_the_owner_is_judged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real, calls = ports.listeners, []

    def racing(port: int) -> list[ports.Listener]:  # psutil lists a socket just opened before it can name its process
        calls.append(port)
        found = real(port)
        return [ports.Listener(h.port, h.address, None) for h in found] if len(calls) <= 2 else found

    monkeypatch.setattr(ports, "listeners", racing)
    ctx = context(tmp_path, SERVICES % 9)
    try:
        checks = _by_id(ctx.services.start())
        assert checks["web.owner"].status == "pass", checks["web.owner"].reason
        assert len(calls) >= 3
    finally:
        ctx.services.stop()


def test_a_listener_whose_process_stays_unknown_is_never_taken_for_ours(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = ports.listeners
    monkeypatch.setattr(ports, "listeners", lambda port: [ports.Listener(h.port, h.address, None) for h in real(port)])
    monkeypatch.setattr("interlock.supervisor.UNKNOWN_OWNER_WAIT", 0.3)
    ctx = context(tmp_path, SERVICES % 9)
    try:
        owner = _by_id(ctx.services.start())["web.owner"]
        assert owner.status == "fail" and "cannot identify" in owner.reason, owner.reason
    finally:
        ctx.services.stop()


def test_a_url_served_by_another_started_service_fails_the_owner_check_naming_it(tmp_path: Path) -> None:
    """web's url and health point at api's port (a copy-paste slip): both ports are free before the starts, api answers web's health."""
    text = (SERVICES % 9).replace('url = "http://127.0.0.1:{port:web}"', 'url = "http://127.0.0.1:{port:api}"').replace(
        'url = "http://127.0.0.1:9"', 'command = ["{python}", "-m", "http.server", "--bind", "127.0.0.1", "{port:api}"]\nport = "auto"\n'
        'url = "http://127.0.0.1:{port:api}"\nhealth = "{url:api}/"')
    ctx = context(tmp_path, text)
    try:
        checks = _by_id(ctx.services.start())
        api = ctx.services.processes["api"].pid
    finally:
        ctx.services.stop()
    port = ctx.ports["api"]
    assert checks["web.port"].status == "pass" and checks["web.started"].status == "pass"  # api answered web's health check
    owner = checks["web.owner"]
    assert owner.status == "fail"
    assert owner.reason.startswith(f"port {port} is not served by web's process tree but by pid {api} ("), owner.reason
    assert owner.reason.endswith("(service api)") and "-m http.server" in owner.reason
    assert owner.details["holders"][0]["pid"] == api
    assert checks["api.owner"].status == "pass"


def test_a_url_another_process_already_serves_fails_the_port_check_naming_it(tmp_path: Path) -> None:
    [other] = free_ports(1)
    foreign = subprocess.Popen([*SERVE, str(other)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not ports.listeners(other) and time.monotonic() < deadline:
            time.sleep(0.05)
        ctx = context(tmp_path, (SERVICES % 9).replace('url = "http://127.0.0.1:{port:web}"', f'url = "http://127.0.0.1:{other}"'))
        try:
            checks = _by_id(ctx.services.start())
        finally:
            ctx.services.stop()
        check = checks["web.port"]
        assert check.status == "fail" and check.reason.startswith(f"port {other} is already in use by pid {foreign.pid} ("), check.reason
        assert "-m http.server" in check.reason and check.details["holders"][0]["pid"] == foreign.pid
        assert foreign.poll() is None
    finally:
        foreign.kill()
        foreign.wait()


def test_a_taken_port_fails_the_port_check_and_the_service_is_not_started(tmp_path: Path, listening: socket.socket) -> None:
    taken = listening.getsockname()[1]
    ctx = context(tmp_path, (SERVICES % 9).replace('port = "auto"', f"port = {taken}"))
    try:
        checks = _by_id(ctx.services.start())
    finally:
        ctx.services.stop()
    check = checks["web.port"]
    assert check.status == "fail" and check.reason.startswith(f"port {taken} is already in use by pid {os.getpid()} ("), check.reason
    assert "web" not in ctx.services.processes and "web.started" not in checks and "web.owner" not in checks
    assert ports.listeners(taken)[0].pid == os.getpid()  # the holder is left alone


def test_a_remote_url_of_a_started_service_cannot_be_proven_and_fails(tmp_path: Path) -> None:
    text = (SERVICES % 9).replace('health = "{url:web}/"', 'health = "http://127.0.0.1:{port:web}/"').replace(
        'url = "http://127.0.0.1:{port:web}"', 'url = "http://10.255.255.1:{port:web}"')
    ctx = context(tmp_path, text)
    try:
        checks = _by_id(ctx.services.start())
    finally:
        ctx.services.stop()
    assert checks["web.owner"].status == "fail" and "cannot check who serves 10.255.255.1:" in checks["web.owner"].reason


def test_gate_1_counts_a_started_service_whose_ownership_check_is_missing_from_the_report() -> None:
    report = {"declared": [{"name": "web", "role": "service", "kind": "http", "check": "web.health"}],
              "checks": [{"id": "web.health"}, {"id": "web.port"}],
              "ports": {"web": {"checks": ["web.port", "web.owner"]}}}
    found = metrics._unprobed(report, None)
    assert found.value == 1 and "web.owner" in (found.reason or "")
    report["checks"].append({"id": "web.owner"})
    assert metrics._unprobed(report, None).value == 0


def test_the_demo_declares_auto_ports_for_every_service() -> None:
    shop = Path(__file__).resolve().parents[2] / "examples" / "shop"
    config = load(shop / "interlock.toml").config
    for env in config.environments.values():
        assert {name: runtime.port for name, runtime in env.services.items()} == {name: "auto" for name in config.services}



def test_a_service_interlock_does_not_start_says_why_its_owner_is_not_checked(tmp_path: Path) -> None:
    import asyncio

    from interlock.phases import environment

    ctx = context(tmp_path, SERVICES % 9)
    [api] = [c for c in asyncio.run(environment.probe_environment(ctx, {})) if c.id == "api.url"]
    assert "interlock does not start api" in api.details["owner"] and "no `command`" in api.details["owner"]


def test_an_unhealthy_service_is_still_judged_by_who_serves_its_port(tmp_path: Path) -> None:
    text = (SERVICES % 9).replace('health = "{url:web}/"', 'health = "{url:web}/missing"').replace("start_timeout = 15", "start_timeout = 5")
    ctx = context(tmp_path, text)
    try:
        checks = _by_id(ctx.services.start())
    finally:
        ctx.services.stop()
    assert checks["web.started"].status == "fail" and "HTTP 404" in (checks["web.started"].reason or "")
    assert checks["web.owner"].status == "pass", checks["web.owner"].reason  # http.server answers 404, but it is ours


def test_no_free_port_left_is_one_clear_line_naming_the_service_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock.errors import UsageError

    def exhausted(self: ports.Reservations, avoid: object = ()) -> int:
        raise OSError("no free port in 127.0.0.1:10000-19999 to give a service with port = \"auto\"")

    monkeypatch.setattr(ports.Reservations, "allocate", exhausted)
    with pytest.raises(UsageError) as info:
        context(tmp_path, SERVICES % 9).port("web")
    [problem] = info.value.problems
    assert problem.key == "environments.test.services.web.port" and "cannot give web a free port: OSError: no free port" in problem.message
