"""Provider headers (issue 17 item 4) and exact reruns (item 5), through pact-python's real verifier against a provider that checks a token."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from interlock.contracts.pact.jobs import fill_variables
from interlock.contracts.pact_worker import kept_sources
from interlock.secrets import for_environment
from interlock.config import load

TOKEN = "tok-3f9a1c7e5b2d"


class Provider(BaseHTTPRequestHandler):
    seen: list[str | None] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        Provider.seen.append(self.headers.get("Authorization"))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.send_response(401)
            self.end_headers()
            return
        body = b'{"id": 10}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def provider() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Provider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Provider.seen = []
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


PACT = {
    "consumer": {"name": "WebConsumer"}, "provider": {"name": "ProductService"}, "metadata": {"pactSpecification": {"version": "3.0.0"}},
    "interactions": [{"description": "get product 10", "providerStates": [{"name": state}], "request": {"method": "GET", "path": "/product/10",
                                                                                                        "headers": {"Authorization": "Bearer recorded-stale"}},
                      "response": {"status": 200, "body": {"id": 10}}} for state in ("a product exists", "products are cached")],
}


def run_job(tmp_path: Path, url: str, **extra: Any) -> dict[str, Any]:
    source = tmp_path / "web-products.json"
    source.write_text(json.dumps(PACT))
    handler = {"setup": [{"command": ["true"]}], "teardown": []}
    job = {"id": "products-http", "provider": "products", "kind": "http", "url": url, "sources": [str(source)], "request_timeout_ms": 5000,
           "needs_states": True, "own_states": {}, "state_url": None, "states": {"a product exists": handler, "products are cached": handler},
           "messages": {}, "stores": {}, "filter": None, "consumer": "WebConsumer", **extra}
    (tmp_path / "job.json").write_text(json.dumps(job))
    subprocess.run([sys.executable, "-m", "interlock.contracts.pact_worker", str(tmp_path / "job.json"), str(tmp_path / "out.json")],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    return json.loads((tmp_path / "out.json").read_text())


def test_the_configured_header_replaces_the_recorded_one_on_every_request(tmp_path: Path, provider: str) -> None:
    outcome = run_job(tmp_path, provider, headers={"Authorization": f"Bearer {TOKEN}"})
    assert [r["result"] for r in outcome["results"]["interactionResults"]] == ["OK", "OK"], outcome["output"]
    assert Provider.seen == [f"Bearer {TOKEN}"] * 2


def test_without_the_header_the_token_check_fails_the_interactions(tmp_path: Path, provider: str) -> None:
    outcome = run_job(tmp_path, provider)
    assert [r["result"] for r in outcome["results"]["interactionResults"]] == ["Error", "Error"]
    assert Provider.seen == ["Bearer recorded-stale"] * 2


def test_a_header_variable_that_is_not_set_fails_the_job_before_any_request(tmp_path: Path, provider: str) -> None:
    outcome = run_job(tmp_path, provider, headers={"Authorization": "Bearer {PRODUCT_TOKEN}"}, headers_missing=["PRODUCT_TOKEN"])
    assert outcome["results"] == {} and "headers take PRODUCT_TOKEN, not set" in outcome["error"]
    assert Provider.seen == []


def test_an_exact_rerun_verifies_one_of_two_interactions_sharing_a_description(tmp_path: Path, provider: str) -> None:
    source = str(tmp_path / "web-products.json")
    outcome = run_job(tmp_path, provider, headers={"Authorization": f"Bearer {TOKEN}"}, keep={source: [1]})
    [only] = outcome["results"]["interactionResults"]
    assert only["providerStates"] == ["products are cached"] and only["result"] == "OK"
    assert len(Provider.seen) == 1


def test_kept_sources_copies_only_the_kept_interactions(tmp_path: Path) -> None:
    source = tmp_path / "p.json"
    source.write_text(json.dumps(PACT))
    (tmp_path / "kept").mkdir()
    [copy] = kept_sources({"sources": [str(source)], "keep": {str(source): [0]}}, tmp_path / "kept")
    assert [i["providerStates"] for i in json.loads(Path(copy).read_text())["interactions"]] == [[{"name": "a product exists"}]]
    assert kept_sources({"sources": [str(source)], "keep": None}, tmp_path) == [str(source)]


def test_header_variables_are_filled_and_masked_by_the_run_redactor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert fill_variables({"Authorization": "Bearer {PRODUCT_TOKEN}", "X-Root": "{root}"}, {"PRODUCT_TOKEN": TOKEN}) == (
        {"Authorization": f"Bearer {TOKEN}", "X-Root": "{root}"}, [])
    assert fill_variables({"A": "{NOPE}"}, {})[1] == ["NOPE"]
    from tests.unit.test_config import MINIMAL

    text = MINIMAL + '\n[contracts.pact]\nsources = ["p"]\n[contracts.pact.providers.api]\nheaders = { Authorization = "Bearer {PRODUCT_HDR}" }\n'
    (tmp_path / "interlock.toml").write_text(text)
    monkeypatch.setenv("PRODUCT_HDR", TOKEN)  # a name no secret pattern matches: masked because a header takes it
    loaded = load(tmp_path / "interlock.toml")
    redactor = for_environment(loaded, "integration", loaded.config.environments["integration"])
    assert TOKEN not in redactor.text(f"sent Authorization: Bearer {TOKEN}")
