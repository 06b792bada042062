"""Pact sources (folders, files, URLs with tokens, a Pact Broker), exact reruns (--only), concurrency bounds, pending.

No shared services: pact files are served by a local HTTP server in a thread,
the broker is a fake Verifier whose calls are checked against pact-python's
real signatures (no Pact Broker runs here), and providers are small threaded
HTTP servers.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from interlock import runspec
from interlock.artifacts import ArtifactDir, validation_errors
from interlock.config import load, parse
from interlock.policy import Gates, Waiver
from interlock.contracts import pact
from interlock.contracts.pact_worker import add_broker, add_filter
from interlock.contracts.pact_worker import verify as worker_verify
from interlock.documents import load_pact
from interlock.errors import ConfigError
from interlock.gates import evaluate
from interlock.metrics import read_metrics
from interlock.phases import contracts as phase
from interlock.phases.triage import failures_from
from interlock.context import RunContext, utc_now

TOKEN = "s3cret-token"


def pact_doc(consumer: str = "web", provider: str = "catalog", descriptions: tuple[str, ...] = ("get product 1",), state: str | None = None) -> dict[str, Any]:
    interactions = []
    for index, description in enumerate(descriptions, 1):
        interaction: dict[str, Any] = {"description": description, "request": {"method": "GET", "path": f"/products/{index}"},
                                       "response": {"status": 200, "headers": {"Content-Type": "application/json"}, "body": {"id": index}}}
        if state:
            interaction["providerState"] = state
        interactions.append(interaction)
    return {"consumer": {"name": consumer}, "provider": {"name": provider}, "interactions": interactions, "metadata": {"pactSpecification": {"version": "3.0.0"}}}


class Server:
    """A threaded HTTP server on a free loopback port, answering with `handler(path, headers) -> (status, body)`."""

    def __init__(self, handler: Callable[[str, dict[str, str]], tuple[int, bytes]]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = handler(self.path, {k.lower(): v for k, v in self.headers.items()})
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[str, dict[str, str]], tuple[int, bytes]]], Server]]:
    started: list[Server] = []

    def start(handler: Callable[[str, dict[str, str]], tuple[int, bytes]]) -> Server:
        started.append(Server(handler))
        return started[-1]

    yield start
    for server in started:
        server.close()


def provider(path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """The catalog the pacts above expect: GET /products/N answers {"id": N}."""
    try:
        return 200, json.dumps({"id": int(path.rsplit("/", 1)[-1])}).encode()
    except ValueError:
        return 404, b"{}"


def context(root: Path, pact_section: str, services: dict[str, str] | None = None) -> RunContext:
    lines = ['[project]\nname = "t"\n']
    for name, path in (("feature_list", "f.json"), ("architecture_contracts", "c"), ("environment_baseline", "b.toml")):
        lines.append(f'[prerequisites.{name}]\npath = "{path}"\nversion = "1"\n')
    services = services or {"catalog": "http://127.0.0.1:1"}
    for name in services:
        lines.append(f"[services.{name}]\n")
    for name, url in services.items():
        lines.append(f'[environments.test.services.{name}]\nurl = "{url}"\n')
    lines.append(pact_section)
    (root / "interlock.toml").write_text("\n".join(lines), "utf-8")
    return RunContext(runspec.build(load(root / "interlock.toml"), "test"), ArtifactDir(root / "art"), lambda event: None, lambda kind: (False, "test"), "run1")


def assert_valid(records: list[dict[str, Any]], **extra: Any) -> None:
    document = {"schema_version": 1, "generated_at": utc_now(), "environment": "test", "status": "fail", "contracts": records, "summary": phase.summarise(records), **extra}
    assert validation_errors("contract-validation-results", document) == []


# --- URL sources -------------------------------------------------------------------------------------

def pact_server(serve: Any, body: bytes, token: str | None = None) -> Server:
    def handler(path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        if token and headers.get("authorization") != f"Bearer {token}":
            return 401, b'{"error": "unauthorized"}'
        return (200, body) if path == "/pacts/web-catalog.json" else (404, b"{}")

    return serve(handler)


def test_url_source_is_fetched_saved_and_recorded_with_its_sha256(tmp_path: Path, serve, monkeypatch) -> None:
    body = json.dumps(pact_doc()).encode()
    server = pact_server(serve, body)
    ctx = context(tmp_path, f'[contracts.pact]\nsources = ["{server.url}/pacts/web-catalog.json"]\n')
    plan = pact.prepare(ctx)
    [item] = plan.pacts
    assert (item.consumer, item.provider) == ("web", "catalog")
    assert item.path.is_relative_to(ctx.artifacts.root / "logs" / "pacts") and item.path.read_bytes() == body
    settings = pact.settings(ctx, plan)
    [fetched] = settings["fetched"]
    assert fetched["sha256"] == hashlib.sha256(body).hexdigest() and fetched["error"] is None
    assert fetched["saved_as"].startswith("logs/pacts/") and fetched["url"] == f"{server.url}/pacts/web-catalog.json"
    assert settings["pact_files"][0]["path"] == fetched["url"] and settings["pact_files"][0]["sha256"] == fetched["sha256"]


def test_url_source_needing_a_token_fails_without_it_and_is_fetched_with_it(tmp_path: Path, serve, monkeypatch) -> None:
    server = pact_server(serve, json.dumps(pact_doc()).encode(), token=TOKEN)
    section = f'[contracts.pact]\nsources = [{{ url = "{server.url}/pacts/web-catalog.json", token_env = "PACT_SOURCE_TOKEN" }}]\n'
    monkeypatch.delenv("PACT_SOURCE_TOKEN", raising=False)
    ctx = context(tmp_path, section)
    plan = pact.prepare(ctx)
    assert plan.pacts == [] and len(plan.broken) == 1
    assert "PACT_SOURCE_TOKEN" in plan.broken[0]["reason"] and plan.broken[0]["status"] == "not_executed"
    assert_valid(plan.broken)

    monkeypatch.setenv("PACT_SOURCE_TOKEN", "wrong")
    plan = pact.prepare(ctx)
    assert "HTTP 401" in plan.broken[0]["reason"] and "refused" in plan.broken[0]["reason"]
    assert "wrong" not in json.dumps(pact.settings(ctx, plan))

    monkeypatch.setenv("PACT_SOURCE_TOKEN", TOKEN)
    plan = pact.prepare(ctx)
    assert plan.broken == [] and [p.consumer for p in plan.pacts] == ["web"]
    assert TOKEN not in json.dumps(pact.settings(ctx, plan))


def test_url_source_without_token_says_it_needs_one(tmp_path: Path, serve) -> None:
    server = pact_server(serve, json.dumps(pact_doc()).encode(), token=TOKEN)
    plan = pact.prepare(context(tmp_path, f'[contracts.pact]\nsources = ["{server.url}/pacts/web-catalog.json"]\n'))
    assert "HTTP 401" in plan.broken[0]["reason"] and "token_env" in plan.broken[0]["reason"]


def test_unreachable_or_malformed_url_source_is_not_executed_never_a_pass(tmp_path: Path, serve) -> None:
    server = serve(lambda path, headers: (200, b'{"not": "a pact"}'))
    ctx = context(tmp_path, f'[contracts.pact]\nsources = ["{server.url}/pacts/web-catalog.json", "http://127.0.0.1:1/gone.json"]\n')
    records = pact.verify(ctx)
    assert [r["status"] for r in records] == ["not_executed", "not_executed"]
    assert "not a readable pact" in records[0]["reason"] and "could not fetch" in records[1]["reason"]
    assert phase.summarise(records)["not_executed"] == 2


def test_url_pact_is_verified_and_names_its_url(tmp_path: Path, serve) -> None:
    catalog = serve(provider)
    server = pact_server(serve, json.dumps(pact_doc(descriptions=("get product 1", "get product 2"))).encode())
    ctx = context(tmp_path, f'[contracts.pact]\nsources = ["{server.url}/pacts/web-catalog.json"]\n', {"catalog": catalog.url})
    [record] = pact.verify(ctx)
    assert record["source"] == f"{server.url}/pacts/web-catalog.json"
    assert [i["status"] for i in record["interactions"]] == ["pass", "pass"]
    assert_valid([record])


def test_folder_and_file_sources_still_work(tmp_path: Path) -> None:
    (tmp_path / "pacts").mkdir()
    (tmp_path / "pacts" / "a.json").write_text(json.dumps(pact_doc("a")))
    (tmp_path / "b.json").write_text(json.dumps(pact_doc("b")))
    plan = pact.prepare(context(tmp_path, '[contracts.pact]\nsources = ["pacts", "b.json"]\n'))
    assert sorted(p.consumer for p in plan.pacts) == ["a", "b"] and plan.fetched == []


# --- config ---------------------------------------------------------------------------------------

BASE = '[project]\nname = "t"\n' + "".join(f'[prerequisites.{n}]\npath = "x"\nversion = "1"\n' for n in ("feature_list", "architecture_contracts", "environment_baseline"))
BASE += '[services.catalog]\n[environments.test.services.catalog]\nurl = "http://127.0.0.1:1"\n'


def test_config_needs_some_pact_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse(BASE + "[contracts.pact]\nsources = []\n", tmp_path / "interlock.toml")
    assert "no pact source" in str(info.value)


def test_config_broker_publish_needs_a_provider_version(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse(BASE + '[contracts.pact.broker]\nurl = "https://broker.example"\nproviders = ["catalog"]\npublish_results = true\n', tmp_path / "interlock.toml")
    assert "provider_version" in str(info.value)


def test_config_concurrency_and_per_provider(tmp_path: Path) -> None:
    config = parse(BASE + '[contracts.pact]\nsources = ["p"]\nconcurrency = 6\nper_provider = 2\n', tmp_path / "interlock.toml")
    assert (config.contracts.pact.concurrency, config.contracts.pact.per_provider) == (6, 2)
    with pytest.raises(ConfigError):
        parse(BASE + '[contracts.pact]\nsources = ["p"]\nper_provider = 0\n', tmp_path / "interlock.toml")


# --- the broker: config -> pact-python calls --------------------------------------------------------

BROKER = """[contracts.pact.broker]
url = "https://broker.example/"
token_env = "PACT_BROKER_TOKEN_FOR_TEST"
providers = ["catalog"]
include_pending = true
include_wip_since = 2026-01-15
provider_version = "1.4.0+abc123"
provider_branch = "main"
provider_tags = ["prod"]
publish_results = true
consumer_version_selectors = [
  { main_branch = true },
  { deployed_or_released = true },
  { consumer = "web", branch = "feature-x", fallback_branch = "main" },
]
"""


class Recorder:
    """Records every method call, and returns itself (the builder) or the verifier, as pact-python does."""

    def __init__(self, name: str, calls: list[tuple[str, str, tuple[Any, ...], dict[str, Any]]], owner: Recorder | None = None) -> None:
        self.name, self.calls, self.owner = name, calls, owner

    def __getattr__(self, method: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((self.name, method, args, kwargs))
            if method == "broker_source":
                return Recorder("builder", self.calls, self)
            if method == "build":
                return self.owner
            return self

        return call


def test_broker_config_becomes_the_verifiers_broker_source_with_selectors(tmp_path: Path, monkeypatch) -> None:
    from pact.verifier import BrokerSelectorBuilder, Verifier

    config = parse(BASE + BROKER, tmp_path / "interlock.toml")
    job = pact.broker_job(config.contracts.pact.broker)
    calls: list[tuple[str, str, tuple[Any, ...], dict[str, Any]]] = []
    add_broker(Recorder("verifier", calls), job, {"PACT_BROKER_TOKEN_FOR_TEST": TOKEN})
    assert [(who, method) for who, method, _, _ in calls] == [
        ("verifier", "broker_source"), ("builder", "consumer_version"), ("builder", "consumer_version"), ("builder", "consumer_version"),
        ("builder", "include_pending"), ("builder", "include_wip_since"), ("builder", "provider_branch"), ("builder", "provider_tags"),
        ("builder", "build"), ("verifier", "set_publish_options"),
    ]
    assert calls[0][2:] == (("https://broker.example/",), {"token": TOKEN, "selector": True, "use_env": False})
    assert [c[3] for c in calls[1:4]] == [{"main_branch": True}, {"deployed_or_released": True}, {"consumer": "web", "branch": "feature-x", "fallback_branch": "main"}]
    assert calls[5][2] == ("2026-01-15",) and calls[6][2] == ("main",) and calls[7][2] == ("prod",)
    assert calls[9][3] == {"version": "1.4.0+abc123", "branch": "main"}
    # Every call the fake saw is one pact-python really has, with arguments its signature accepts.
    for who, method, args, kwargs in calls:
        real = getattr(Verifier if who == "verifier" else BrokerSelectorBuilder, method)
        inspect.signature(real).bind(None, *args, **kwargs)


def test_broker_token_variable_missing_is_an_error_not_an_anonymous_fetch(tmp_path: Path) -> None:
    from interlock.contracts.pact_worker import JobError

    job = pact.broker_job(parse(BASE + BROKER, tmp_path / "interlock.toml").contracts.pact.broker)
    with pytest.raises(JobError, match="PACT_BROKER_TOKEN_FOR_TEST"):
        add_broker(Recorder("verifier", []), job, {})


def test_broker_job_per_provider_and_settings_hide_the_token(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PACT_BROKER_TOKEN_FOR_TEST", TOKEN)
    ctx = context(tmp_path, "[contracts.pact]\n" + BROKER.replace("[contracts.pact.broker]", "[contracts.pact.broker]"))
    plan = pact.prepare(ctx)
    [job] = plan.jobs
    assert (job["id"], job["kind"], job["url"], job["broker"]["token_env"]) == ("catalog-broker", "broker", "http://127.0.0.1:1/", "PACT_BROKER_TOKEN_FOR_TEST")
    assert TOKEN not in json.dumps(job) and TOKEN not in json.dumps(pact.settings(ctx, plan))
    assert pact.settings(ctx, plan)["broker"]["consumer_version_selectors"][0] == {"main_branch": True}


def test_broker_provider_must_be_a_service(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="provider 'nope' is not declared under \\[services\\]"):  # refused by `config check`
        context(tmp_path, "[contracts.pact]\n" + BROKER.replace('providers = ["catalog"]', 'providers = ["nope"]'))


def test_broker_results_become_records_per_consumer_with_pending_kept_apart() -> None:
    results = {"interactionResults": [
        {"consumer": "web", "description": "get 1", "result": "OK", "pending": False, "duration": "5ms", "providerStates": ["p1"]},
        {"consumer": "web", "description": "get 2", "result": "Error", "pending": True, "duration": "5ms", "providerStates": [],
         "mismatch": {"type": "mismatches", "mismatches": [{"type": "BodyMismatch", "path": "$.id", "expected": "2", "actual": "3", "mismatch": "Expected 2"}]}},
        {"consumer": "app", "description": "wip", "result": "OK", "pending": True, "duration": "1ms", "providerStates": []},
    ], "pendingErrors": [{"interaction": "web - get 2"}]}
    records = pact.broker_records("catalog", {"results": results, "state_failures": {}}, "https://u:pw@broker.example")
    by = {i["id"]: i for r in records for i in r["interactions"]}
    assert by["web->catalog: get 1"]["status"] == "pass" and by["web->catalog: get 1"]["provider_states"] == ["p1"]
    assert by["web->catalog: get 2"]["status"] == "pending" and by["web->catalog: get 2"]["mismatches"][0]["path"] == "$.id"
    assert by["app->catalog: wip"]["status"] == "pending"
    assert {r["source"] for r in records} == {"broker https://u:***@broker.example"}
    counts = phase.summarise(records)
    assert (counts["passed"], counts["pending"], counts["failed"]) == (1, 2, 0)
    assert_valid(records)


def test_broker_that_returned_nothing_is_not_executed() -> None:
    [record] = pact.broker_records("catalog", {"results": {}, "error": "could not reach the broker", "state_failures": {}}, "https://broker.example")
    assert record["status"] == "not_executed" and "could not reach" in record["reason"]
    assert_valid([record])


# --- pending is never a pass ------------------------------------------------------------------------

def test_pending_interaction_is_pending_even_when_it_verified(tmp_path: Path) -> None:
    path = tmp_path / "web-catalog.json"
    path.write_text(json.dumps(pact_doc(descriptions=("a", "b", "c"))))
    item = load_pact(path)
    entries = [
        {"consumer": "web", "description": "a", "result": "OK", "pending": True, "duration": "1ms"},
        {"consumer": "web", "description": "b", "result": "Error", "pending": True, "duration": "1ms",
         "mismatch": {"type": "mismatches", "mismatches": [{"type": "StatusMismatch", "path": "", "expected": "200", "actual": "500", "mismatch": "expected 200"}]}},
        {"consumer": "web", "description": "c", "result": "OK", "pending": False, "duration": "1ms"},
    ]
    [record] = pact.contract_records([item], {path: {"results": {"interactionResults": entries, "pendingErrors": [{}]}, "state_failures": {}}}, tmp_path)
    assert [i["status"] for i in record["interactions"]] == ["pending", "pending", "pass"]
    assert record["status"] != "pass"
    (tmp_path / "art").mkdir()
    artifacts = ArtifactDir(tmp_path / "art")
    artifacts.write_json("contract-validation-results.json", {"schema_version": 1, "generated_at": utc_now(), "environment": "t", "status": "fail",
                                                              "contracts": [record], "summary": phase.summarise([record])})
    metrics = read_metrics(artifacts, None, evidence=False)
    # Pending is never a pass: it counts as not passed (Gate 2 fails unless each is waived by name), and only "c" passed.
    assert metrics["contracts_pending"].value == 2 and metrics["contracts_failed"].value == 2 and metrics["contracts_passed"].value == 1


# --- exact reruns (--only) --------------------------------------------------------------------------

def write_pacts(root: Path) -> list[Any]:
    (root / "pacts").mkdir(exist_ok=True)
    docs = {"web-catalog": pact_doc("web", "catalog", ("get product 1", "get (one) [x] product 2?")),
            "app-catalog": pact_doc("app", "catalog", ("get product 1",))}
    for name, doc in docs.items():
        (root / "pacts" / f"{name}.json").write_text(json.dumps(doc))
    return [load_pact(root / "pacts" / f"{n}.json") for n in docs]


def test_select_by_interaction_id_and_by_pact_id(tmp_path: Path) -> None:
    found = write_pacts(tmp_path)
    kept, selection, unmatched = pact.select_pacts(found, ["web->catalog: get (one) [x] product 2?", "pact:app->catalog", "web->catalog: nope", "orders->billing: x"], ["billing"])
    assert [p.consumer for p in kept] == ["web", "app"]
    assert selection[found[0].path] == frozenset({1}) and selection[found[1].path] == frozenset({0})  # by index: descriptions may repeat
    assert unmatched == ["web->catalog: nope"]  # the billing one is left to the broker job


def test_filter_pattern_escapes_what_rust_regex_treats_specially() -> None:
    assert pact.description_filter(["get (one) [x] product 2?", "a.b"]) == r"^(?:a\.b|get \(one\) \[x\] product 2\?)$"


def test_filtered_job_carries_the_verifier_filter_and_only_named_items_are_recorded(tmp_path: Path, serve) -> None:
    catalog = serve(provider)
    write_pacts(tmp_path)
    ctx = context(tmp_path, '[contracts.pact]\nsources = ["pacts"]\nper_provider = 2\n', {"catalog": catalog.url})
    plan = pact.prepare(ctx, ["web->catalog: get (one) [x] product 2?"])
    [job] = plan.jobs
    assert job["filter"] == {"description": r"^(?:get \(one\) \[x\] product 2\?)$"} and job["sources"] == [str(tmp_path / "pacts" / "web-catalog.json")]
    [record] = pact.verify(ctx, plan)
    assert [(i["id"], i["status"]) for i in record["interactions"]] == [("web->catalog: get (one) [x] product 2?", "pass")]


def test_worker_filter_makes_the_real_verifier_run_only_the_named_interaction(tmp_path: Path, serve, capfd) -> None:
    catalog = serve(provider)
    found = write_pacts(tmp_path)
    job = {"provider": "catalog", "kind": "http", "url": catalog.url + "/", "sources": [str(found[0].path)], "request_timeout_ms": 5000,
           "needs_states": False, "own_states": {}, "state_url": None, "states": {}, "messages": {}, "stores": {}, "filter": {"description": pact.description_filter(["get (one) [x] product 2?"])}}
    outcome = worker_verify(job)
    assert [(r["description"], r["result"]) for r in outcome["results"]["interactionResults"]] == [("get (one) [x] product 2?", "OK")]


def test_add_filter_passes_consumers_for_broker_pacts() -> None:
    calls: list[Any] = []
    add_filter(Recorder("verifier", calls), {"description": "^(?:x)$", "consumers": ["web"]})
    assert [(c[1], c[2], c[3]) for c in calls] == [("filter", (), {"description": "^(?:x)$", "state": None}), ("filter_consumers", ("web",), {})]


def test_keep_only_cuts_other_kinds_to_the_named_items() -> None:
    records = [{"id": "openapi:x->catalog", "status": "fail", "duration_ms": 3.0, "interactions": [
        {"id": "catalog:GET /a", "status": "pass", "duration_ms": 1.0}, {"id": "catalog:GET /b", "status": "fail", "duration_ms": 2.0}]},
        {"id": "schema:catalog->db", "status": "pass", "duration_ms": 0.0, "interactions": [{"id": "db:table t", "status": "pass", "duration_ms": 0.0}]}]
    kept = phase.keep_only(records, ["catalog:GET /a", "schema:catalog->db"])
    assert [(r["id"], r["status"], [i["id"] for i in r["interactions"]]) for r in kept] == [
        ("openapi:x->catalog", "pass", ["catalog:GET /a"]), ("schema:catalog->db", "pass", ["db:table t"])]


def test_filtered_results_fail_gate_2_and_no_item_waiver_covers_them(tmp_path: Path) -> None:
    artifacts = ArtifactDir(tmp_path)
    record = {"id": "pact:web->catalog", "kind": "pact-http", "consumer": "web", "provider": "catalog", "source": "p.json", "specification": "3.0.0",
              "status": "pass", "duration_ms": 1.0, "reason": None, "interactions": [
                  {"id": "web->catalog: get", "description": "get", "provider_states": [], "status": "pass", "duration_ms": 1.0, "mismatches": []}]}
    document = {"schema_version": 1, "generated_at": utc_now(), "environment": "t", "status": "pass", "contracts": [record],
                "summary": phase.summarise([record]), "filter": ["web->catalog: get"]}
    artifacts.write_json("contract-validation-results.json", document)
    metric = read_metrics(artifacts, None, evidence=False)["contracts_filtered"]
    assert metric.value == 1 and metric.items == [] and metric.reason.startswith("filtered run: not complete evidence")
    from datetime import datetime, timedelta

    now = datetime.now(UTC)
    waiver = Waiver(condition="contracts.filtered", item="web->catalog: get", justification="j", approver="qa", ticket="T-1", expires=now + timedelta(days=1))
    [gate2] = evaluate({"contracts_filtered": metric}, Gates(), [waiver], now, gates=(2,))
    row = next(c for c in gate2["conditions"] if c["id"] == "contracts.filtered")
    assert row["status"] == "fail" and row["reason"].startswith("filtered run: not complete evidence")
    document.pop("filter")
    artifacts.write_json("contract-validation-results.json", document)
    assert read_metrics(artifacts, None, evidence=False)["contracts_filtered"].value == 0


def test_triage_rerun_command_names_the_exact_interaction() -> None:
    item = {"id": "orders->catalog: it's product 1", "description": "it's product 1", "status": "fail", "mismatches": [{"path": "$.price", "message": "m"}]}
    contracts = {"contracts": [{"id": "pact:orders->catalog", "provider": "catalog", "interactions": [item]}]}
    [failure] = failures_from(None, contracts, None, "integration")
    assert failure.rerun == "interlock contracts --env integration --only 'orders->catalog: it'\"'\"'s product 1'"
    import shlex

    assert shlex.split(failure.rerun)[-2:] == ["--only", "orders->catalog: it's product 1"]


# --- concurrency bounds ------------------------------------------------------------------------------

def test_schedule_bounds_total_and_per_provider_concurrency() -> None:
    jobs = [{"id": f"{p}-{n}", "provider": p, "interactions": 10} for p in ("a", "b", "c") for n in range(3)]
    lock = threading.Lock()
    now: dict[str, int] = {}
    peak = {"total": 0, "per": 0}

    def run(job: dict[str, Any]) -> dict[str, Any]:
        with lock:
            now[job["provider"]] = now.get(job["provider"], 0) + 1
            peak["total"] = max(peak["total"], sum(now.values()))
            peak["per"] = max(peak["per"], now[job["provider"]])
        time.sleep(0.05)
        with lock:
            now[job["provider"]] -= 1
        return {"ran": job["id"]}

    outcomes = pact.schedule(jobs, run, concurrency=4, per_provider=1)
    assert sorted(outcomes) == sorted(j["id"] for j in jobs) and peak == {"total": 3, "per": 1}
    peak.update(total=0, per=0)
    pact.schedule(jobs, run, concurrency=4, per_provider=2)
    assert peak == {"total": 4, "per": 2}


def test_schedule_turns_a_crashed_job_into_its_error() -> None:
    def run(job: dict[str, Any]) -> dict[str, Any]:
        raise OSError("no such interpreter")

    outcomes = pact.schedule([{"id": "a", "provider": "a"}], run, 2, 1)
    assert "no such interpreter" in outcomes["a"]["error"]


def test_split_balances_interactions_and_default_concurrency(tmp_path: Path) -> None:
    files = []
    for index, count in enumerate((50, 10, 30, 20, 40)):
        path = tmp_path / f"p{index}.json"
        path.write_text(json.dumps(pact_doc(f"c{index}", "catalog", tuple(f"d{n}" for n in range(count)))))
        files.append(load_pact(path))
    chunks = pact.split(files, 2)
    assert sorted(sum(len(f.interactions) for f in chunk) for chunk in chunks) == [70, 80]
    assert len(pact.split(files, 9)) == 5 and len(pact.split(files, 1)) == 1
    assert pact.default_concurrency(20, None, cores=2) == 8 and pact.default_concurrency(3, None, cores=2) == 3
    assert pact.default_concurrency(20, 30, cores=2) == 20 and pact.default_concurrency(0, None) == 1


def test_jobs_split_per_provider_and_settings_record_the_bounds(tmp_path: Path) -> None:
    (tmp_path / "pacts").mkdir()
    for consumer in ("a", "b", "c"):
        (tmp_path / "pacts" / f"{consumer}.json").write_text(json.dumps(pact_doc(consumer)))
    ctx = context(tmp_path, '[contracts.pact]\nsources = ["pacts"]\nper_provider = 2\nconcurrency = 5\n')
    plan = pact.prepare(ctx)
    assert [j["id"] for j in plan.jobs] == ["catalog-http-1", "catalog-http-2"] and plan.concurrency == 2
    settings = pact.settings(ctx, plan)
    assert (settings["concurrency"], settings["per_provider"], settings["jobs"]) == (2, 2, 2)


def test_tls_roots_are_narrowed_only_for_jobs_that_make_no_tls_connection() -> None:
    base = {"kind": "http", "url": "http://127.0.0.1:1/", "own_states": {}, "state_url": None,
            "states": {"s": {"setup": [{"store": "db", "sql": "x"}], "teardown": []}}, "stores": {"db": {"url": "sqlite:///x.db"}}}
    assert pact.tls_free(base, ["s"])
    assert not pact.tls_free({**base, "url": "https://127.0.0.1:1/"}, [])
    assert not pact.tls_free({**base, "kind": "message"}, [])
    assert not pact.tls_free({**base, "stores": {"db": {"url": "postgresql://h/db"}}}, ["s"])
    assert pact.tls_free({**base, "stores": {"db": {"url": "postgresql://h/db"}}}, [])
    assert not pact.tls_free({**base, "states": {"s": {"setup": [], "teardown": [{"command": ["curl", "x"]}]}}}, ["s"])
    assert not pact.tls_free({**base, "states": {"s": {"setup": [{"store": "db", "sql": "x"}, {"http": {"url": "https://x"}}], "teardown": []}}}, ["s"])
    assert not pact.tls_free({**base, "own_states": {"s": {"setup": [{"command": ["x"]}], "teardown": []}}}, ["s"])  # the provider's own wins
    assert pact.tls_free({**base, "state_url": "http://127.0.0.1:1/_pact/provider-states"}, ["s"]) and not pact.tls_free({**base, "state_url": "https://x/s"}, ["s"])


def test_throwaway_roots_are_one_self_signed_certificate(tmp_path: Path) -> None:
    from cryptography import x509

    env = pact.no_tls_roots(tmp_path)
    [cert] = x509.load_pem_x509_certificates(Path(env["SSL_CERT_FILE"]).read_bytes())
    assert cert.issuer == cert.subject and Path(env["SSL_CERT_DIR"]) == Path(env["SSL_CERT_FILE"]).parent


def test_provider_without_url_fails_its_interactions_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "pacts").mkdir()
    (tmp_path / "pacts" / "p.json").write_text(json.dumps(pact_doc("web", "billing")))
    ctx = context(tmp_path, '[contracts.pact]\nsources = ["pacts"]\n')
    [record] = pact.verify(ctx)
    assert record["interactions"][0]["status"] == "not_executed" and "no URL" in record["interactions"][0]["mismatches"][0]["message"]


def test_pact_logs_hold_no_secret_once_the_step_is_done(tmp_path: Path, serve, monkeypatch) -> None:
    """The verifier prints what the provider answered; a secret in it is masked when verification ends, not only at sealing."""
    secret = "tok-5f3a9c1e7b2d"
    monkeypatch.setenv("CATALOG_API_TOKEN", secret)
    catalog = serve(lambda path, headers: (200, json.dumps({"id": secret}).encode()))
    (tmp_path / "pacts").mkdir()
    (tmp_path / "pacts" / "web-catalog.json").write_text(json.dumps(pact_doc()))
    ctx = context(tmp_path, '[contracts.pact]\nsources = ["pacts"]\n', {"catalog": catalog.url})
    [record] = pact.verify(ctx)
    assert [i["status"] for i in record["interactions"]] == ["fail"]
    logs = {p.name: p.read_text("utf-8") for p in (tmp_path / "art" / "logs").iterdir()}
    assert any("***" in text for text in logs.values()), logs  # the mismatch was printed, masked
    assert not [name for name, text in logs.items() if secret in text], logs


def test_sources_are_recorded_relative_to_the_project_or_labelled_outside_it(tmp_path: Path) -> None:
    project, outside = tmp_path / "project", tmp_path / "elsewhere" / "pacts"
    project.mkdir()
    write_pacts(project)
    outside.mkdir(parents=True)
    (outside / "other-catalog.json").write_text(json.dumps(pact_doc("other", "catalog")))
    ctx = context(project, f'[contracts.pact]\nsources = ["pacts", "{outside}"]\n')
    settings = pact.settings(ctx, pact.prepare(ctx))
    assert settings["sources"] == ["pacts", "external:elsewhere/pacts"]  # an absolute machine path is no evidence
    assert sorted(p["path"] for p in settings["pact_files"]) == ["external:pacts/other-catalog.json", "pacts/app-catalog.json", "pacts/web-catalog.json"]
    assert str(tmp_path) not in json.dumps(settings)
