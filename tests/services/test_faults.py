"""Faults injected for real on 127.0.0.1: brokers and databases that hang up, refuse or go silent; a service that dies.

The shared servers are never stopped, paused or reconfigured: each test puts a
small asyncio TCP proxy of its own in front of the real server and cuts it (a
connection to its `cut_port` from a trigger command, so the cut lands exactly
mid-capture), freezes it, lets it hang up after a few bytes or at once, or
SIGKILLs a throwaway redis-server or a service of its own. The check must fail,
never pass, within its timeout, with a one-line reason.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from interlock import runspec
from interlock.artifacts import ArtifactDir
from interlock.checks import Check
from interlock.config import load
from interlock.contracts import asyncapi
from interlock.contracts.actions import ActionFailed, perform
from interlock.contracts.schema import inspect_store
from interlock.brokers.amqp import probe_amqp
from interlock.brokers.mqtt import probe_mqtt
from interlock.brokers.nats import probe_nats
from interlock.brokers.redis import probe_redis
from interlock.probes.sql import probe_store
from interlock.context import RunContext
from tests.support import config_head, free_ports, orders_on_a_broker

pytestmark = pytest.mark.services


class Proxy:
    """A TCP proxy to one upstream server, run on its own event loop thread, that a test can cut.

    Connecting to `cut_port` cuts: every open connection is closed (both
    sides, at once) and, as with `refuse`, new connections are accepted and
    closed straight away; so a trigger command can cut mid-capture.
    With `freeze`, that connection instead makes the proxy swallow every byte
    from then on while keeping the connections open: a broker gone silent.
    With `cut_after` bytes from upstream on one connection, that connection is
    cut as soon as they have passed (mid-conversation).
    """

    def __init__(self, upstream: tuple[str, int], *, refuse: bool = False, cut_after: int | None = None, freeze: bool = False) -> None:
        self.upstream, self.refuse, self.cut_after, self.freeze = upstream, refuse, cut_after, freeze
        self.frozen = False
        self.loop = asyncio.new_event_loop()
        self.writers: set[asyncio.StreamWriter] = set()
        self.cuts = 0
        ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self.thread.start()
        assert ready.wait(5), "proxy did not start"

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.control = self.loop.run_until_complete(asyncio.start_server(self._on_control, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        self.cut_port = self.control.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refuse:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self.writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer, None), self._pipe(up_reader, writer, self.cut_after), return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, budget: int | None) -> None:
        try:
            while data := await reader.read(65536):
                if budget is not None and len(data) >= budget:
                    writer.write(data[:budget])
                    await writer.drain()
                    self._cut()
                    return
                if budget is not None:
                    budget -= len(data)
                if self.frozen:
                    continue
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()

    async def _on_control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.freeze:
            self.frozen = True
        else:
            self._cut()
        writer.close()

    def _cut(self) -> None:
        self.cuts += 1
        self.refuse = True
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()

    def close(self) -> None:
        """Stop listening, drop every connection and end the loop's tasks, then the loop."""

        async def shutdown() -> None:
            self._cut()
            self.server.close()
            self.control.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    def url(self, url: str) -> str:
        """`url` (credentials, path kept) pointed at this proxy."""
        return at_port(url, self.port)


def at_port(url: str, port: int) -> str:
    """The same URL (credentials, path) on another local port."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    return parts._replace(netloc=f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}").geturl()


def upstream_of(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


@pytest.fixture
def proxies() -> Iterator[list[Proxy]]:
    """Proxies a test opens are closed after it, whatever happened."""
    made: list[Proxy] = []
    yield made
    for proxy in made:
        proxy.close()


def proxy(proxies: list[Proxy], url: str, default_port: int, **options: Any) -> Proxy:
    made = Proxy(upstream_of(url, default_port), **options)
    proxies.append(made)
    return made


def cut_command(port: int) -> list[str]:
    """A trigger that cuts the proxy and returns once the cut is done (the control side closes after cutting)."""
    return ["{python}", "-c", f"import socket; s = socket.create_connection(('127.0.0.1', {port})); s.recv(1)"]


# --- a broker that drops the connection mid-capture ------------------------------

BROKER_URLS = {"amqp": ("amqp_url", 5672), "nats": ("nats_url", 4222), "redis": ("redis_url", 6379), "mqtt": ("mqtt_url", 1883)}
EVENTS = {
    "asyncapi": "2.6.0", "info": {"title": "orders events", "version": "1.0.0"},
    "channels": {},
    "components": {"messages": {"OrderCreated": {"name": "order.created", "payload": {"type": "object"}}}},
}


def one_channel_system(root: Path, kind: str, url: str, channel: str, trigger: list[str], timeout: float) -> RunContext:
    """A one-service system whose AsyncAPI document has one channel, on the broker at `url`, with `trigger`."""
    root.mkdir(parents=True, exist_ok=True)
    document = {**EVENTS, "channels": {channel: {"subscribe": {"message": {"$ref": "#/components/messages/OrderCreated"}}}}}
    (root / "events.json").write_text(json.dumps(document), "utf-8")
    (root / "interlock.toml").write_text(orders_on_a_broker("events.json", kind, url) + f"""
[contracts.asyncapi.channels."{channel}"]
broker = "bus"
timeout = {timeout}
trigger = {{ command = {json.dumps(trigger)} }}
""", "utf-8")
    return RunContext(runspec.build(load(root / "interlock.toml"), "test"), ArtifactDir(root / "art"), lambda e: None, lambda k: (False, "test"), "run1")


def capture_through(kind: str, timeout: float, root: Path, proxies: list[Proxy], request: pytest.FixtureRequest, **options: Any) -> tuple[Proxy, dict[str, Any], dict[str, Any], float]:
    """One AsyncAPI capture on the real broker of `kind`, through a proxy the trigger acts on: (proxy, record, its one item, seconds)."""
    fixture, port = BROKER_URLS[kind]
    real = request.getfixturevalue(fixture)
    through = proxy(proxies, real, port, **options)
    channel = ("interlock/test/" if kind == "mqtt" else "interlock.test.") + uuid.uuid4().hex[:12]
    ctx = one_channel_system(root, kind, through.url(real), channel, cut_command(through.cut_port), timeout)
    start = time.monotonic()
    [record] = asyncapi.verify(ctx)
    took = time.monotonic() - start
    [item] = record["interactions"]
    return through, record, item, took


@pytest.mark.parametrize("kind", ["amqp", "nats", "redis", "mqtt"])
def test_broker_cut_mid_capture_is_an_error_within_the_timeout(kind: str, tmp_path: Path, proxies: list[Proxy], request: pytest.FixtureRequest) -> None:
    timeout = 3.0
    cutter, _, item, took = capture_through(kind, timeout, tmp_path, proxies, request)
    assert cutter.cuts >= 1  # the cut happened, during the trigger
    assert item["status"] == "error", item
    [mismatch] = item["mismatches"]
    print(kind, round(took, 2), mismatch)
    assert mismatch["type"] == "BrokerError", mismatch
    assert "connection closed by the broker" in mismatch["message"] and "\n" not in mismatch["message"], mismatch
    assert took < timeout + 2, took


def test_redis_killed_mid_capture_is_an_error_within_the_timeout(tmp_path: Path) -> None:
    """A throwaway redis-server of our own, killed with SIGKILL by the trigger: the broker process really dies."""
    [port] = free_ports(1)
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            assert time.monotonic() < deadline, "throwaway redis-server did not start"
            time.sleep(0.02)
        kill = ["{python}", "-c", f"import os, signal, time; os.kill({server.pid}, signal.SIGKILL); time.sleep(0.2)"]
        ctx = one_channel_system(tmp_path, "redis", f"redis://127.0.0.1:{port}/0", "interlock.test.killed", kill, 3.0)
        start = time.monotonic()
        [record] = asyncapi.verify(ctx)
        took = time.monotonic() - start
    finally:
        server.kill()
        server.wait()
    assert server.returncode == -9
    [item] = record["interactions"]
    assert item["status"] == "error" and record["status"] == "fail", item
    [mismatch] = item["mismatches"]
    assert mismatch["type"] == "BrokerError", mismatch
    assert mismatch["message"].endswith((f"127.0.0.1:{port}: connection closed by the broker", f"127.0.0.1:{port}: connection refused")), mismatch
    assert took < 5, took


@pytest.mark.parametrize("kind", ["amqp", "nats", "redis", "mqtt"])
def test_broker_gone_silent_mid_capture_ends_within_the_timeout(kind: str, tmp_path: Path, proxies: list[Proxy], request: pytest.FixtureRequest) -> None:
    timeout = 1.0
    silent, record, item, took = capture_through(kind, timeout, tmp_path, proxies, request, freeze=True)
    assert silent.frozen
    assert item["status"] in ("fail", "error") and record["status"] == "fail", item
    [mismatch] = item["mismatches"]
    assert "\n" not in mismatch["message"]
    if kind in ("amqp", "redis"):  # a request went unanswered: the broker is named silent, not closed
        assert mismatch["type"] == "BrokerError" and "the broker stopped answering (no reply within 3s)" in mismatch["message"], mismatch
    else:  # a subscription simply receives nothing: indistinguishable from a producer that did not publish
        assert mismatch["type"] == "NoMessage", mismatch
    assert took < timeout + 5, took  # the timeout, the reply's slack (2 s) and AMQP's 2 s close handshake at most


# --- a probe whose server hangs up mid-conversation ------------------------------

PROBES = {
    "redis": lambda url: probe_redis("cache", url, config={"maxmemory-policy": "noeviction"}, timeout=3),
    "amqp": lambda url: probe_amqp("bus", url, queues=["q"], timeout=3),
    "nats": lambda url: probe_nats("events", url, streams=["S"], timeout=3),
    "mqtt": lambda url: probe_mqtt("telemetry", url, timeout=3),
}
PEER = {"redis": "server", "amqp": "broker", "nats": "broker", "mqtt": "broker"}


def assert_failed_in_one_line(checks: list[Check], reason: str) -> None:
    """The first check fails with `reason`; every follow-up check fails as not checked for that reason."""
    assert checks[0].status == "fail" and checks[0].reason == reason, (checks[0].reason, reason)
    for check in checks[1:]:
        assert check.status == "fail" and check.reason == f"not checked: {reason}", check.reason


@pytest.mark.parametrize("budget", [0, 3], ids=["accept-then-close", "after-3-bytes"])
@pytest.mark.parametrize("kind", sorted(PROBES))
def test_probe_of_a_server_that_hangs_up_fails_at_once(kind: str, budget: int, proxies: list[Proxy], request: pytest.FixtureRequest) -> None:
    fixture, port = BROKER_URLS[kind]
    real = request.getfixturevalue(fixture)
    hangup = proxy(proxies, real, port, refuse=budget == 0, cut_after=budget or None)
    start = time.monotonic()
    result = asyncio.run(PROBES[kind](hangup.url(real)))
    checks = result if isinstance(result, list) else [result]
    assert time.monotonic() - start < 3, "a hang-up must not wait for the timeout"
    assert_failed_in_one_line(checks, f"127.0.0.1:{hangup.port}: connection closed by the {PEER[kind]}")


# --- a database that refuses connections, or accepts and hangs up ----------------

DB_URLS = {"postgresql": ("postgres_url", 5432), "mysql": ("mysql_url", 3306)}


@pytest.mark.parametrize("fault", ["refused", "closed"])
@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_database_faults_fail_the_probe_the_schema_contract_and_the_sql_action(
    kind: str, fault: str, proxies: list[Proxy], closed_port: int, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    fixture, default_port = DB_URLS[kind]
    real = request.getfixturevalue(fixture)
    if fault == "refused":
        port, url = closed_port, at_port(real, closed_port)
    else:
        hangup = proxy(proxies, real, default_port, refuse=True)
        port, url = hangup.port, hangup.url(real)
    expected = "connection refused" if fault == "refused" else "connection closed by the database"
    where = f"127.0.0.1:{port}/test"

    start = time.monotonic()
    checks = asyncio.run(probe_store("shopdb", kind, url, timeout=3, migrations_dir=tmp_path, tables={"products": 3}))
    assert_failed_in_one_line(checks, f"{where}: {expected}")

    view = inspect_store(kind, url, ["products"], 3)
    assert view.error == f"{where}: {expected}" and not view.tables

    with pytest.raises(ActionFailed) as failed:
        perform({"store": "shopdb", "sql": "DELETE FROM products WHERE id = 999"}, {"shopdb": {"kind": kind, "url": url}})
    assert str(failed.value) == f"SQL failed on store 'shopdb': {expected}"
    assert time.monotonic() - start < 3


# --- a service that dies while the run needs it ----------------------------------


def test_a_service_killed_mid_step_is_logged_announced_and_a_critical_defect(tmp_path: Path) -> None:
    """Two real services; one is SIGKILLed during step 3.1, the other is stopped by interlock (not a death)."""
    from interlock import metrics
    from interlock.defects import read_log
    from interlock.events import Notice
    from interlock.phases import observability

    ports = free_ports(2)
    (tmp_path / "interlock.toml").write_text(config_head("t") + """
[services.web]
owner = "team-web"
[services.api]
""" + "".join(f"""
[environments.test.services.{name}]
command = ["{{python}}", "-m", "http.server", "{port}", "--bind", "127.0.0.1"]
url = "http://127.0.0.1:{port}"
health = "http://127.0.0.1:{port}/"
""" for name, port in zip(("web", "api"), ports)), "utf-8")
    events: list[Any] = []
    ctx = RunContext(runspec.build(load(tmp_path / "interlock.toml"), "test"), ArtifactDir(tmp_path / "art"), events.append, lambda k: (False, "test"), "run1")
    ctx.enter_step("3.1")
    try:
        started = ctx.services.start()
        assert {c.id: c.status for c in started} == {f"{n}.{k}": "pass" for n in ("web", "api") for k in ("port", "started", "owner")}
        web = ctx.services.processes["web"]
        web.kill()
        deadline = time.monotonic() + 3
        while not ctx.services.exits and time.monotonic() < deadline:
            time.sleep(0.05)
        ctx.enter_step("3.2")  # the next step announces the death as it begins, before it reads the evidence
        assert [e.message for e in events if isinstance(e, Notice)], "not announced when the next step began"
        web_row = next(r for r in observability.readiness(ctx) if r.service == "web")
    finally:
        ctx.services.stop()
    title = "service web exited with code -9 (SIGKILL) during step 3.1"
    assert [(e.service, e.code, e.step) for e in ctx.services.exits] == [("web", -9, "3.1")]  # api was stopped by interlock: no death
    log = (tmp_path / "art" / "logs" / "service-web.log").read_text("utf-8")
    assert f"[interlock] {title} (at " in log
    assert web_row.logs.endswith(f"; {title}") and not web_row.ready, web_row
    notices = [e.message for e in events if isinstance(e, Notice) and e.message.startswith("service ")]
    assert len(notices) == 1 and notices[0].startswith(title) and notices[0].endswith("see logs/service-web.log"), notices
    [row] = read_log(tmp_path / "art" / "defect-log.csv")
    assert (row["title"], row["severity"], row["status"], row["owner"], row["evidence"]) == (title, "critical", "open", "team-web", "logs/service-web.log")
    found = metrics.read_metrics(ArtifactDir(tmp_path / "art"), None, evidence=False)
    assert found["open_critical_defects"].value == 1  # Gate 3's condition fails even if no test noticed


# --- a Pact message whose broker hangs up, or whose producer publishes nothing --------


@pytest.mark.parametrize("fault", ["broker-cut", "no-message"])
def test_pact_message_capture_failure_is_the_interactions_reason(fault: str, tmp_path: Path, proxies: list[Proxy], amqp_url: str) -> None:
    """pact-python turns a failing message handler into an HTML error page; the record must give the capture's reason."""
    from interlock.contracts import pact

    cutter = proxy(proxies, amqp_url, 5672)
    trigger = cut_command(cutter.cut_port) if fault == "broker-cut" else ["{python}", "-c", "pass"]
    shop_pact = json.loads((Path(__file__).resolve().parents[2] / "examples/shop/contracts/pacts/shipping-orders.json").read_text("utf-8"))
    shop_pact["messages"][0]["providerStates"] = []
    (tmp_path / "pacts").mkdir()
    (tmp_path / "pacts" / "shipping-orders.json").write_text(json.dumps(shop_pact), "utf-8")
    topic = f"interlock.test.{uuid.uuid4().hex[:12]}"
    (tmp_path / "interlock.toml").write_text(config_head("t") + f"""
[services.orders]
[environments.test.services.orders]
url = "http://127.0.0.1:9"
[environments.test.brokers.bus]
kind = "amqp"
url = {json.dumps(cutter.url(amqp_url))}
[contracts.pact]
sources = ["pacts"]
[contracts.pact.messages."an order created event"]
broker = "bus"
topic = "{topic}"
timeout = 1
trigger = {{ command = {json.dumps(trigger)} }}
""", "utf-8")
    ctx = RunContext(runspec.build(load(tmp_path / "interlock.toml"), "test"), ArtifactDir(tmp_path / "art"), lambda e: None, lambda k: (False, "test"), "run1")
    [record] = pact.verify(ctx)
    [item] = record["interactions"]
    assert record["status"] == "fail"
    if fault == "broker-cut":
        assert (item["status"], item["mismatches"]) == ("error", [{"type": "CaptureFailed", "path": None, "message": f"AMQP 127.0.0.1:{cutter.port}: connection closed by the broker"}])
    else:
        assert (item["status"], item["mismatches"]) == ("fail", [{"type": "NoMessage", "path": None, "message": f"no '{topic}' message on exchange 'amq.topic' within 1s"}])
