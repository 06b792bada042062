"""Provider states as Pact defines them: per-provider handlers, `state_url`, parameters and names reaching every action.

No shared services: the providers are small threaded stdlib HTTP servers, each with its own state-change
endpoint that records what it received, verified through interlock's real pact verification (pact-python's
Rust verifier in worker processes).
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from interlock import runspec
from interlock.artifacts import STATES_LOG, ArtifactDir
from interlock.config import load, parse
from interlock.context import RunContext
from interlock.contracts import pact
from interlock.contracts.actions import ActionFailed, run_action
from interlock.contracts.pact_worker import change_state
from interlock.documents import load_pact
from interlock.errors import ConfigError
from interlock.inputs import document_problems

STATE = "a user exists"
#: Seconds a provider's GET waits for its partners to be serving too (below the verifier's 5 s request timeout).
RENDEZVOUS = 3.0


class Provider:
    """A users service: GET /users/N answers the user only while a state change has set it up; every call is recorded in order."""

    def __init__(self, name: str) -> None:
        self.name, self.users, self.calls, self.lock = name, {}, [], threading.Lock()
        self.serving = threading.Event()  # set by this provider's first GET
        self.partners: list[Provider] = []  # providers whose GETs must overlap this one's (set by a test)
        self.overlapped: list[bool] = []  # per GET: whether every partner was serving too before RENDEZVOUS ran out
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with owner.lock:
                    owner.calls.append(("GET", self.path))
                owner.serving.set()
                if owner.partners:  # a rendezvous, not a clock: only jobs that really run at once both get past it in time
                    met = all(p.serving.wait(RENDEZVOUS) for p in owner.partners)
                    with owner.lock:
                        owner.overlapped.append(met)
                time.sleep(0.2)  # keeps each provider busy long enough for the other's job to overlap it
                user = owner.users.get(self.path.rsplit("/", 1)[-1])
                self.answer(200 if user else 404, user or {"error": "no such user"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                with owner.lock:
                    owner.calls.append((self.path, body))
                    params = body.get("params") or {}
                    if body.get("action") == "setup":
                        owner.users[str(params["id"])] = {"id": params["id"], "name": params["name"], "served_by": owner.name}
                    else:
                        owner.users.pop(str(params.get("id")), None)
                self.answer(200, {"ok": True})

            def answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def providers() -> Iterator[dict[str, Provider]]:
    started = {name: Provider(name) for name in ("users", "accounts")}
    yield started
    for server in started.values():
        server.close()


def user_pact(consumer: str, provider: str, users: list[tuple[int, str]]) -> dict[str, Any]:
    """A v3 pact whose interactions each need the parameterised state `a user exists` (id, name)."""
    interactions = [{
        "description": f"get user {uid}", "providerStates": [{"name": STATE, "params": {"id": uid, "name": name}}],
        "request": {"method": "GET", "path": f"/users/{uid}"},
        "response": {"status": 200, "headers": {"Content-Type": "application/json"}, "body": {"id": uid, "name": name, "served_by": provider}},
    } for uid, name in users]
    return {"consumer": {"name": consumer}, "provider": {"name": provider}, "interactions": interactions, "metadata": {"pactSpecification": {"version": "3.0.0"}}}


def config_text(services: dict[str, str], section: str, service_extra: dict[str, str] | None = None) -> str:
    lines = ['[project]\nname = "t"\n']
    for name, path in (("feature_list", "f.json"), ("architecture_contracts", "c"), ("environment_baseline", "b.toml")):
        lines.append(f'[prerequisites.{name}]\npath = "{path}"\nversion = "1"\n')
    for name in services:
        lines.append(f"[services.{name}]\n{(service_extra or {}).get(name, '')}\n")
    for name, url in services.items():
        lines.append(f'[environments.test.services.{name}]\nurl = "{url}"\n')
    lines.append('[environments.test.stores.db]\nkind = "sqlite"\nurl = "sqlite:///db.sqlite"\n')
    lines.append(section)
    return "\n".join(lines)


def context(root: Path, text: str) -> RunContext:
    (root / "interlock.toml").write_text(text, "utf-8")
    return RunContext(runspec.build(load(root / "interlock.toml"), "test"), ArtifactDir(root / "art"), lambda event: None, lambda kind: (False, "test"), "run1")


RECORD = ("import json, os, sys; change = json.load(sys.stdin); "
          "open(sys.argv[1], 'a').write(json.dumps([change, {k: v for k, v in os.environ.items() if k.startswith('INTERLOCK_')}]) + '\\n'); "
          "print('recorded', change['state'], change['action'])")


def test_two_providers_sharing_a_state_name_get_their_own_params_and_calls_concurrently(tmp_path: Path, providers: dict[str, Provider],
                                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """`users` has its own handler (an HTTP call with no body, then a command); `accounts` has a `state_url`.

    Both are verified at once, `users` with two consumers and per_provider = 2: each provider sees only its own
    state changes, each with the interaction's params, in order setup -> request -> teardown, never interleaved.
    """
    secret = "tok-77c1e0a9f3"
    monkeypatch.setenv("USERS_API_TOKEN", secret)
    users, accounts = providers["users"], providers["accounts"]
    users.partners, accounts.partners = [accounts], [users]
    (tmp_path / "pacts").mkdir()
    for consumer, provider, rows in (("web", "users", [(1, "Ada"), (2, "Bob")]), ("admin", "users", [(3, secret)]),
                                     ("web", "accounts", [(7, "Cy"), (8, "Di")])):
        (tmp_path / "pacts" / f"{consumer}-{provider}.json").write_text(json.dumps(user_pact(consumer, provider, rows)))
    record = tmp_path / "command.jsonl"
    section = f'''[contracts.pact]
sources = ["pacts"]
per_provider = 2
concurrency = 2
[contracts.pact.providers.users.states."{STATE}"]
setup = [{{ http = {{ method = "POST", url = "{{url:users}}/_own-state" }} }}, {{ command = {json.dumps([sys.executable, "-c", RECORD, str(record)])} }}]
teardown = {{ http = {{ method = "POST", url = "{{url:users}}/_own-state" }} }}
[contracts.pact.states."{STATE}"]
setup = {{ command = ["false"] }}
'''
    ctx = context(tmp_path, config_text({"users": users.url, "accounts": accounts.url}, section,
                                        {"accounts": 'state_url = "/_pact/provider-states"'}))
    plan = pact.prepare(ctx)
    assert sorted((j["id"], j["consumer"]) for j in plan.jobs) == [("accounts-http", "web"), ("users-http-1", "admin"), ("users-http-2", "web")]
    records = pact.verify(ctx, plan)

    statuses = {i["id"]: i["status"] for r in records for i in r["interactions"]}
    assert statuses == {f"{c}->{p}: get user {u}": "pass" for c, p, u in
                        (("web", "users", 1), ("web", "users", 2), ("admin", "users", 3), ("web", "accounts", 7), ("web", "accounts", 8))}, records
    # users: its own handler's HTTP call got the whole change (state, params, action, provider, consumer) as its body
    own = [body for path, body in users.calls if path == "/_own-state"]
    assert all(set(b) == {"state", "params", "action", "provider", "consumer"} and b["provider"] == "users" and b["state"] == STATE for b in own)
    assert sorted((b["consumer"], b["params"]["id"], b["action"]) for b in own) == sorted(
        [("web", 1, "setup"), ("web", 1, "teardown"), ("web", 2, "setup"), ("web", 2, "teardown"), ("admin", 3, "setup"), ("admin", 3, "teardown")])
    # accounts: Pact's state-change convention on its own endpoint, exactly {"state", "params", "action"}
    assert [c for c in accounts.calls] == [
        ("/_pact/provider-states", {"state": STATE, "params": {"id": 7, "name": "Cy"}, "action": "setup"}), ("GET", "/users/7"),
        ("/_pact/provider-states", {"state": STATE, "params": {"id": 7, "name": "Cy"}, "action": "teardown"}),
        ("/_pact/provider-states", {"state": STATE, "params": {"id": 8, "name": "Di"}, "action": "setup"}), ("GET", "/users/8"),
        ("/_pact/provider-states", {"state": STATE, "params": {"id": 8, "name": "Di"}, "action": "teardown"})]
    # no interleaving on users although per_provider = 2: each GET sits between its own setup and teardown
    sequence = [("GET", body) if path == "GET" else (body["action"], f"/users/{body['params']['id']}") for path, body in users.calls]
    for index in range(0, len(sequence), 3):
        setup, get, teardown = sequence[index:index + 3]
        assert (setup[0], get[0], teardown[0]) == ("setup", "GET", "teardown") and setup[1] == get[1] == teardown[1], sequence
    # the two providers really ran at the same time: each one's first GET found the other serving
    assert users.overlapped[0] and accounts.overlapped[0], (users.overlapped, accounts.overlapped)
    # the command got the change on stdin and in INTERLOCK_* variables
    changes = [json.loads(line) for line in record.read_text().splitlines()]
    assert sorted((c["consumer"], c["params"]["id"]) for c, _ in changes) == [("admin", 3), ("web", 1), ("web", 2)]
    for change, env in changes:
        wanted = {"INTERLOCK_STATE": STATE, "INTERLOCK_STATE_ACTION": "setup", "INTERLOCK_PROVIDER": "users",
                  "INTERLOCK_CONSUMER": change["consumer"], "INTERLOCK_STATE_PARAMS": json.dumps(change["params"])}
        assert {name: env.get(name) for name in wanted} == wanted
    # every action is in logs/states.log, with provider, state and action, and the secret param masked
    log = (ctx.artifacts.root / STATES_LOG).read_text("utf-8")
    assert secret not in log and "***" in log
    assert log.count("provider=users") == 3 * 3 and log.count("provider=accounts") == 4 and "handler=state_url" in log
    assert "recorded a user exists setup" in log and "answered 200" in log


def test_a_failing_action_fails_the_interactions_of_its_state_and_is_logged(tmp_path: Path, providers: dict[str, Provider]) -> None:
    users = providers["users"]
    (tmp_path / "pacts").mkdir()
    (tmp_path / "pacts" / "web-users.json").write_text(json.dumps(user_pact("web", "users", [(1, "Ada")])))
    section = f'''[contracts.pact]
sources = ["pacts"]
[contracts.pact.providers.users.states."{STATE}"]
setup = [{{ command = ["{sys.executable}", "-c", "import sys; print('half done'); sys.exit(3)"] }}, {{ http = {{ url = "{{url:users}}/never" }} }}]
'''
    ctx = context(tmp_path, config_text({"users": users.url}, section))
    [record] = pact.verify(ctx)
    [interaction] = record["interactions"]
    assert interaction["status"] == "fail" and interaction["mismatches"][0]["type"] == "provider-state"
    assert "exited 3" in interaction["mismatches"][0]["message"] and "half done" in interaction["mismatches"][0]["message"]
    assert not any(path == "/never" for path, _ in users.calls)  # the list stops at the failed action
    log = (ctx.artifacts.root / STATES_LOG).read_text("utf-8")
    assert "FAILED" in log and "step=1/2" in log and "step=2/2" not in log


def job(**changes: Any) -> dict[str, Any]:
    return {"provider": "users", "consumer": "web", "own_states": {}, "state_url": None, "states": {}, "stores": {}, **changes}


def test_own_handler_wins_over_state_url_which_wins_over_the_global_one(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    touch = {"command": [sys.executable, "-c", f"open({str(marker)!r}, 'a').write('x')"]}
    log: list[dict[str, Any]] = []
    assert change_state(job(own_states={STATE: {"setup": [touch], "teardown": []}}, state_url="http://127.0.0.1:9/x"), STATE, "setup", {}, {}, log) is None
    assert marker.read_text() == "x" and log[0]["handler"] == "own"
    failure = change_state(job(state_url="http://127.0.0.1:9/x", states={STATE: {"setup": [touch]}}), STATE, "setup", {}, {}, log)
    assert failure is not None and "state_url" in failure and marker.read_text() == "x"  # the URL was tried, not the global handler
    assert change_state(job(states={STATE: {"setup": [touch], "teardown": []}}), STATE, "setup", {}, {}, log) is None and marker.read_text() == "xx"
    missing = change_state(job(), STATE, "setup", {}, {}, log)
    assert missing is not None and '[contracts.pact.providers.users.states."a user exists"]' in missing and "state_url" in missing
    assert change_state(job(), STATE, "teardown", {}, {}, log) is None  # a missing handler is reported once, at setup


def test_sql_actions_bind_the_states_params_by_name(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE users (id INTEGER, name TEXT)")
    stores = {"db": {"kind": "sqlite", "url": f"sqlite:///{db}"}}
    change = {"state": STATE, "params": {"id": 42, "name": "Ada", "unused": 1}, "action": "setup", "provider": "users", "consumer": "web"}
    out = run_action({"sql": "DELETE FROM users WHERE id = :id; INSERT INTO users (id, name) VALUES (:id, :name)", "store": "db"}, stores, state=change)
    assert "1 row(s)" in out
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT id, name FROM users").fetchall() == [(42, "Ada")]
    with pytest.raises(ActionFailed, match="bind parameter"):
        run_action({"sql": "INSERT INTO users (id, name) VALUES (:id, :nickname)", "store": "db"}, stores, state=change)


def test_config_takes_per_provider_handlers_as_one_action_or_a_list(tmp_path: Path) -> None:
    base = config_text({"users": "http://127.0.0.1:1"}, "")
    config = parse(base + f'''[contracts.pact]
sources = ["p"]
[contracts.pact.providers.users.states."{STATE}"]
setup = [{{ command = ["a"] }}, {{ sql = "DELETE FROM t", store = "db" }}]
teardown = {{ command = ["b"] }}
''', tmp_path / "interlock.toml")
    state = config.contracts.pact.providers["users"].states[STATE]
    assert [a.command or a.sql for a in state.actions("setup")] == [["a"], "DELETE FROM t"] and [a.command for a in state.actions("teardown")] == [["b"]]
    with pytest.raises(ConfigError) as caught:
        parse(base + '[contracts.pact]\nsources = ["p"]\n[contracts.pact.providers.nobody.states.s]\nsetup = { command = ["a"] }\n'
              '[contracts.pact.providers.users.states.t]\nsetup = [{ sql = "x", store = "nope" }]\n', tmp_path / "interlock.toml")
    text = str(caught.value)
    assert "'nobody' is not a service" in text and "contracts.pact.providers.users.states.t.setup.0.store" in text


def test_config_check_names_every_pact_state_without_a_handler(tmp_path: Path) -> None:
    (tmp_path / "pacts").mkdir()
    for consumer, provider in (("web", "users"), ("web", "accounts"), ("web", "orders")):
        (tmp_path / "pacts" / f"{consumer}-{provider}.json").write_text(json.dumps(user_pact(consumer, provider, [(1, "Ada")])))
    section = f'[contracts.pact]\nsources = ["pacts"]\n[contracts.pact.providers.users.states."{STATE}"]\nsetup = {{ command = ["a"] }}\n'
    services = {"users": "http://127.0.0.1:1", "accounts": "http://127.0.0.1:2", "orders": "http://127.0.0.1:3"}
    (tmp_path / "interlock.toml").write_text(config_text(services, section, {"orders": 'state_url = "/_pact/provider-states"'}), "utf-8")
    problems = [p for p in document_problems(load(tmp_path / "interlock.toml")) if "state" in p.message]
    [problem] = problems  # users has its own handler, orders a state_url: only accounts is unhandled
    assert Path(problem.file).name == "web-accounts.json" and problem.key == 'contracts.pact.providers.accounts.states."a user exists"'
    assert "'a user exists'" in problem.message and "'accounts'" in problem.message
    assert pact.unhandled_states(load(tmp_path / "interlock.toml").config, [load_pact(tmp_path / "pacts" / "web-users.json")]) == []


def test_stateful_jobs_have_their_provider_to_themselves() -> None:
    jobs = [{"id": f"a-{n}", "provider": "a", "needs_states": True, "interactions": 1} for n in range(3)]
    jobs += [{"id": f"b-{n}", "provider": "b", "needs_states": False, "interactions": 1} for n in range(3)]
    lock, now, peak = threading.Lock(), {"a": 0, "b": 0}, {"a": 0, "b": 0, "total": 0}

    def run(item: dict[str, Any]) -> dict[str, Any]:
        with lock:
            now[item["provider"]] += 1
            peak[item["provider"]] = max(peak[item["provider"]], now[item["provider"]])
            peak["total"] = max(peak["total"], sum(now.values()))
        time.sleep(0.05)
        with lock:
            now[item["provider"]] -= 1
        return {}

    assert sorted(pact.schedule(jobs, run, concurrency=6, per_provider=3)) == sorted(j["id"] for j in jobs)
    assert peak["a"] == 1 and peak["b"] == 3 and peak["total"] == 4


def test_states_log_lines_name_provider_consumer_state_action_and_params() -> None:
    entry = {"time": "2026-01-01T00:00:00Z", "provider": "users", "consumer": None, "state": STATE, "action": "setup", "handler": "own",
             "step": 1, "of": 1, "params": {"id": 1}, "ok": True, "output": "command x exited 0:\nline one\nline two"}
    text = pact.states_log([{"id": "users-broker", "provider": "users"}], {"users-broker": {"state_log": [entry]}})
    assert text.splitlines() == [
        "== job users-broker (provider users)",
        "2026-01-01T00:00:00Z provider=users consumer=- state='a user exists' action=setup handler=own step=1/1 params={\"id\": 1} ok",
        "    command x exited 0:", "    line one", "    line two"]
    assert pact.states_log([{"id": "x", "provider": "x"}], {"x": {}}) == ""
