"""OpenAPI contracts against a tiny local HTTP app: every operation exercised, request and response validated.

Each test serves a small app on a free loopback port in a thread and writes a
small OpenAPI document and interlock.toml into tmp_path; no external server.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from interlock import runspec
from interlock.artifacts import ArtifactDir, validation_errors
from interlock.config import load
from interlock.contracts import openapi
from interlock.phases import contracts as phase
from interlock.context import RunContext, utc_now

Handler = Callable[[str, str, bytes], tuple[int, Any]]

DOC = {
    "openapi": "3.1.0",
    "info": {"title": "shop", "version": "1.0.0"},
    "servers": [{"url": "http://shop.example.invalid/api"}],  # the host is replaced by the environment's URL; the base path stays
    "paths": {
        "/items/{id}": {"get": {
            "operationId": "getItem",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}, "example": 1}],
            "responses": {
                "200": {"description": "the item", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}},
                "404": {"description": "no such item", "content": {"application/json": {"schema": {"type": "object"}}}},
            },
        }},
        "/orders": {"post": {
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OrderRequest"}, "example": {"qty": 2}}}},
            "responses": {"201": {"description": "created", "content": {"application/json": {"schema": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}}}}},
        }},
        "/search": {"get": {
            "parameters": [{"name": "q", "in": "query", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "hits", "content": {"application/json": {"schema": {"type": "array"}}}}},
        }},
    },
    "components": {"schemas": {
        "Item": {"type": "object", "required": ["id", "name", "price_cents"], "additionalProperties": False,
                 "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "price_cents": {"type": "integer"}}},
        "OrderRequest": {"type": "object", "required": ["qty"], "properties": {"qty": {"type": "integer", "minimum": 1}}},
    }},
}
GOOD_ITEM = {"id": 1, "name": "cup", "price_cents": 1299}


class App:
    """A local HTTP app: `handler(method, path, body) -> (status, json body)`; every request is recorded."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.seen: list[tuple[str, str, bytes]] = []
        app = self

        class Handle(BaseHTTPRequestHandler):
            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                app.seen.append((self.command, self.path, body))
                status, payload = app.handler(self.command, self.path, body)
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handle)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def shop(method: str, path: str, body: bytes) -> tuple[int, Any]:
    """A provider that keeps the contract."""
    if method == "GET" and path.startswith("/api/items/"):
        return 200, {**GOOD_ITEM, "id": int(path.rsplit("/", 1)[1])}
    if method == "POST" and path == "/api/orders":
        return 201, {"id": "o-1"}
    if method == "GET" and path.startswith("/api/search"):
        return 200, []
    if method == "POST" and path == "/reset":
        return 200, {"reset": True}
    return 404, {"error": "not found"}


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], App]]:
    apps: list[App] = []

    def start(handler: Handler) -> App:
        apps.append(App(handler))
        return apps[-1]

    yield start
    for app in apps:
        app.close()


def free_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def context(root: Path, urls: dict[str, str], extra: str = "", doc: dict[str, Any] | None = None) -> RunContext:
    """A system with one OpenAPI document per service (all the same unless `doc`), served at `urls`."""
    lines = ['[project]\nname = "t"\n']
    for name, path in (("feature_list", "f.json"), ("architecture_contracts", "c"), ("environment_baseline", "b.toml")):
        lines.append(f'[prerequisites.{name}]\npath = "{path}"\nversion = "1"\n')
    for service in urls:
        (root / f"{service}.yaml").write_text(yaml.safe_dump(doc or DOC, sort_keys=False), "utf-8")
        lines.append(f'[services.{service}]\nopenapi = "{service}.yaml"\n')
    for service, url in urls.items():
        lines.append(f'[environments.test.services.{service}]\nurl = "{url}"\n')
    lines.append("[contracts.openapi]\nrequest_timeout = 5\n" + extra)
    (root / "interlock.toml").write_text("\n".join(lines), "utf-8")
    return RunContext(runspec.build(load(root / "interlock.toml"), "test"), ArtifactDir(root / "art"), lambda event: None, lambda kind: (False, "test"), "run1")


def items(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["id"]: i for i in record["interactions"]}


def assert_valid(records: list[dict[str, Any]]) -> None:
    document = {"schema_version": 1, "generated_at": utc_now(), "environment": "test", "status": "fail", "contracts": records, "summary": phase.summarise(records)}
    assert validation_errors("contract-validation-results", document) == []


def test_documented_operations_pass_with_their_examples(tmp_path: Path, serve) -> None:
    app = serve(shop)
    [record] = openapi.verify(context(tmp_path, {"shop": app.url}))
    assert_valid([record])
    assert record["kind"] == "openapi" and record["provider"] == "shop" and record["consumer"] == "openapi:shop.yaml"
    assert record["specification"] == "3.1.0"
    found = items(record)
    assert found["shop:GET /items/{id}"]["status"] == "pass", found["shop:GET /items/{id}"]
    assert found["shop:POST /orders"]["status"] == "pass", found["shop:POST /orders"]
    assert found["shop:GET /items/{id}"]["description"] == "GET /items/{id} (getItem)"
    assert ("GET", "/api/items/1", b"") in app.seen  # the path example, under the servers' base path
    assert ("POST", "/api/orders", b'{"qty": 2}') in app.seen  # the request body example


def test_response_body_type_mismatch_is_named_with_its_path(tmp_path: Path, serve) -> None:
    app = serve(lambda m, p, b: (200, {"id": "one", "name": "cup", "price": 1299}) if p.startswith("/api/items/") else shop(m, p, b))
    [record] = openapi.verify(context(tmp_path, {"shop": app.url}))
    item = items(record)["shop:GET /items/{id}"]
    assert item["status"] == "fail" and record["status"] == "fail"
    by_path = {m["path"]: m for m in item["mismatches"]}
    assert by_path["$.id"]["type"] == "response-body"
    assert by_path["$.id"]["expected"] == {"type": "integer"} and by_path["$.id"]["actual"] == "one"
    assert by_path["$.price_cents"]["actual"] == "absent"  # the renamed field: missing under its documented name ...
    assert by_path["$.price"]["actual"] == 1299  # ... and unexpected under its new one
    assert items(record)["shop:POST /orders"]["status"] == "pass"  # only the broken operation fails
    assert_valid([record])


def test_undocumented_status_code_fails(tmp_path: Path, serve) -> None:
    app = serve(lambda m, p, b: (418, {"error": "teapot"}) if p.startswith("/api/items/") else shop(m, p, b))
    [record] = openapi.verify(context(tmp_path, {"shop": app.url}))
    item = items(record)["shop:GET /items/{id}"]
    assert item["status"] == "fail"
    [status] = item["mismatches"]
    assert status["type"] == "response-status" and status["expected"] == ["200", "404"] and status["actual"] == 418
    assert "not documented" in status["message"]


def test_documented_error_status_for_an_example_request_fails(tmp_path: Path, serve) -> None:
    """An example request is the happy path: a documented 404 is no proof the operation works."""
    app = serve(lambda m, p, b: (404, {}) if p.startswith("/api/items/") else shop(m, p, b))
    [record] = openapi.verify(context(tmp_path, {"shop": app.url}))
    item = items(record)["shop:GET /items/{id}"]
    assert item["status"] == "fail"
    assert item["mismatches"][0]["expected"] == ["200"] and item["mismatches"][0]["actual"] == 404


def test_operation_without_example_or_fixture_is_not_executed(tmp_path: Path, serve) -> None:
    app = serve(shop)
    [record] = openapi.verify(context(tmp_path, {"shop": app.url}))
    item = items(record)["shop:GET /search"]
    assert item["status"] == "not_executed"
    assert item["mismatches"][0]["message"] == "no example or fixture: unexercised"
    assert "query parameter 'q'" in item["mismatches"][0]["expected"]
    assert not any(p.startswith("/api/search") for _, p, _ in app.seen)
    assert phase.summarise([record])["not_executed"] == 1  # Gate 2 counts it as a failure
    assert record["status"] == "fail"


def test_unreachable_service_makes_its_operations_errors(tmp_path: Path) -> None:
    [record] = openapi.verify(context(tmp_path, {"shop": free_url()}))
    found = items(record)
    assert found["shop:GET /items/{id}"]["status"] == "error"
    assert "did not answer" in found["shop:GET /items/{id}"]["mismatches"][0]["message"]
    assert found["shop:POST /orders"]["status"] == "error"
    assert found["shop:POST /orders"]["mismatches"][0]["message"].startswith("not attempted:")
    assert found["shop:GET /search"]["status"] == "not_executed"
    assert "did not answer" in record["reason"] and record["status"] == "error"
    assert_valid([record])


def test_fixture_overrides_the_example_after_its_setup(tmp_path: Path, serve) -> None:
    app = serve(shop)
    fixture = '''
[[contracts.openapi.fixtures."shop:GET /items/{id}"]]
path = { id = 7 }
status = 200
setup = { http = { method = "POST", url = "{url:shop}/reset" } }
[[contracts.openapi.fixtures."shop:GET /search"]]
query = { q = "cup" }
'''
    [record] = openapi.verify(context(tmp_path, {"shop": app.url}, fixture))
    found = items(record)
    assert found["shop:GET /items/{id}"]["status"] == "pass"
    assert found["shop:GET /search"]["status"] == "pass"  # a fixture makes an operation without examples exercisable
    gets = [(m, p) for m, p, _ in app.seen if p.startswith(("/api/items", "/reset"))]
    assert gets == [("POST", "/reset"), ("GET", "/api/items/7")]  # setup first; the example id 1 is never sent
    assert ("GET", "/api/search?q=cup", b"") in app.seen


def test_request_that_violates_the_document_is_a_request_mismatch(tmp_path: Path, serve) -> None:
    app = serve(shop)  # the provider accepts anything: only the request is wrong
    fixture = '[[contracts.openapi.fixtures."shop:POST /orders"]]\nbody = { qty = "many" }\n'
    [record] = openapi.verify(context(tmp_path, {"shop": app.url}, fixture))
    item = items(record)["shop:POST /orders"]
    assert item["status"] == "fail"
    [mismatch] = item["mismatches"]
    assert mismatch["type"] == "request-body" and mismatch["path"] == "$.qty" and mismatch["actual"] == "many"
    assert ("POST", "/api/orders", b'{"qty": "many"}') in app.seen  # it was still sent: the response is checked too


def test_path_parameter_that_breaks_its_schema_is_a_request_mismatch(tmp_path: Path, serve) -> None:
    app = serve(lambda m, p, b: (404, {}) if p == "/api/items/abc" else shop(m, p, b))
    fixture = '[[contracts.openapi.fixtures."shop:GET /items/{id}"]]\npath = { id = "abc" }\nstatus = 404\n'
    [record] = openapi.verify(context(tmp_path, {"shop": app.url}, fixture))
    [mismatch] = items(record)["shop:GET /items/{id}"]["mismatches"]
    assert mismatch["type"] == "request-parameter" and mismatch["path"] == "path:id"
    assert mismatch["expected"] == {"type": "integer"} and mismatch["actual"] == "abc"


def test_fixture_status_pins_another_outcome_and_several_fixtures_each_run(tmp_path: Path, serve) -> None:
    app = serve(lambda m, p, b: (404, {"error": "no"}) if p == "/api/items/999" else shop(m, p, b))
    fixture = '''
[[contracts.openapi.fixtures."shop:GET /items/{id}"]]
path = { id = 999 }
status = 404
[[contracts.openapi.fixtures."shop:GET /items/{id}"]]
path = { id = 2 }
status = 201
'''
    [record] = openapi.verify(context(tmp_path, {"shop": app.url}, fixture))
    item = items(record)["shop:GET /items/{id}"]
    assert item["status"] == "fail"
    [mismatch] = item["mismatches"]
    assert mismatch["message"].startswith("[fixture 2] status 200 where the fixture expects 201")


def test_failed_setup_fails_the_operation_without_sending_it(tmp_path: Path, serve) -> None:
    app = serve(shop)
    fixture = '[[contracts.openapi.fixtures."shop:GET /items/{id}"]]\nsetup = { command = ["false"] }\n'
    [record] = openapi.verify(context(tmp_path, {"shop": app.url}, fixture))
    item = items(record)["shop:GET /items/{id}"]
    assert item["status"] == "fail" and item["mismatches"][0]["type"] == "setup"
    assert not any(p.startswith("/api/items") for _, p, _ in app.seen)


def test_fixture_for_an_undocumented_operation_is_reported(tmp_path: Path, serve) -> None:
    app = serve(shop)
    fixture = '[[contracts.openapi.fixtures."shop:GET /itemz/{id}"]]\nstatus = 200\n'
    [record] = openapi.verify(context(tmp_path, {"shop": app.url}, fixture))
    assert items(record)["shop:GET /itemz/{id}"]["status"] == "error"


def test_openapi_30_examples_map_and_composed_body(tmp_path: Path, serve) -> None:
    doc = json.loads(json.dumps(DOC))
    doc["openapi"] = "3.0.3"
    doc["paths"]["/items/{id}"]["get"]["parameters"][0].pop("example")
    doc["paths"]["/items/{id}"]["get"]["parameters"][0]["examples"] = {"first": {"value": 5}}
    body = doc["paths"]["/orders"]["post"]["requestBody"]["content"]["application/json"]
    body.pop("example")
    doc["components"]["schemas"]["OrderRequest"]["properties"]["qty"]["example"] = 3
    doc["components"]["schemas"]["Item"]["properties"]["name"]["nullable"] = True
    app = serve(lambda m, p, b: (200, {**GOOD_ITEM, "name": None}) if p.startswith("/api/items/") else shop(m, p, b))
    [record] = openapi.verify(context(tmp_path, {"shop": app.url}, doc=doc))
    assert record["specification"] == "3.0.3"
    assert {i["id"]: i["status"] for i in record["interactions"]} == {"shop:GET /items/{id}": "pass", "shop:POST /orders": "pass", "shop:GET /search": "not_executed"}
    assert ("GET", "/api/items/5", b"") in app.seen and ("POST", "/api/orders", b'{"qty": 3}') in app.seen


def test_services_are_checked_concurrently(tmp_path: Path, serve) -> None:
    """Each app answers only once the other one has been called too: sequential checks would time out."""
    arrived = {"a": threading.Event(), "b": threading.Event()}

    def meeting(me: str, other: str) -> Handler:
        def handle(method: str, path: str, body: bytes) -> tuple[int, Any]:
            arrived[me].set()
            return (200, GOOD_ITEM) if arrived[other].wait(3) else (500, {"error": "alone"})
        return handle

    doc = {**DOC, "paths": {"/items/{id}": DOC["paths"]["/items/{id}"]}}
    apps = {"a": serve(meeting("a", "b")), "b": serve(meeting("b", "a"))}
    records = openapi.verify(context(tmp_path, {name: app.url for name, app in apps.items()}, doc=doc))
    assert [r["status"] for r in records] == ["pass", "pass"], records


def test_repeated_violations_in_arrays_are_summarised() -> None:
    from interlock.contracts.openapi.check import summarise_repeats

    found = [{"type": "response-body", "path": f"$.items[{n}].price_cents", "message": "m"} for n in range(10)]
    kept = summarise_repeats(found)
    assert [m["path"] for m in kept] == ["$.items[0].price_cents", "$.items[1].price_cents", "$.items[2].price_cents", "$.items[*].price_cents"]
    assert kept[-1]["message"] == "m (and in 7 more elements)"


def test_settings_record_versions_hashes_and_timeout(tmp_path: Path, serve) -> None:
    app = serve(shop)
    ctx = context(tmp_path, {"shop": app.url}, 'schemathesis = ["shop"]\n')
    found = openapi.settings(ctx)
    [doc] = found["documents"]
    assert doc["openapi"] == "3.1.0" and doc["operations"] == 3 and doc["base_path"] == "/api"
    assert doc["sha256"] == hashlib.sha256((tmp_path / "shop.yaml").read_bytes()).hexdigest()
    assert found["openapi_core"] and found["request_timeout"] == 5
    assert found["schemathesis"]["services"] == ["shop"]


def test_broken_document_is_an_error_record(tmp_path: Path) -> None:
    doc = {**DOC, "paths": {"/x": {"get": {"responses": "not a map"}}}}
    [record] = openapi.verify(context(tmp_path, {"shop": free_url()}, doc=doc))
    assert record["status"] == "error" and "not valid OpenAPI 3.1.0" in record["reason"]
    assert phase.summarise([record])["not_executed"] == 1


def test_step_writes_openapi_records_into_the_results(tmp_path: Path, serve) -> None:
    app = serve(shop)
    ctx = context(tmp_path, {"shop": app.url}, '[[contracts.openapi.fixtures."shop:GET /search"]]\nquery = { q = "x" }\n')
    outcome = phase.run(ctx)
    results = json.loads((tmp_path / "art" / "contract-validation-results.json").read_text())
    config = json.loads((tmp_path / "art" / "contract-validation-config.json").read_text())
    assert results["status"] == "pass" and results["summary"]["passed"] == 3, results
    assert outcome.status == "pass"
    assert config["validators"]["openapi"]["documents"][0]["openapi"] == "3.1.0"


def test_schemathesis_property_checks_find_a_server_error(tmp_path: Path, serve) -> None:
    pytest.importorskip("schemathesis")

    def fragile(method: str, path: str, body: bytes) -> tuple[int, Any]:
        if path.startswith("/api/items/"):
            try:
                return (200, {**GOOD_ITEM, "id": int(path.rsplit("/", 1)[1])}) if abs(int(path.rsplit("/", 1)[1])) < 1000 else (500, {"error": "overflow"})
            except ValueError:
                return 404, {}
        return shop(method, path, body)

    app = serve(fragile)
    doc = {**DOC, "paths": {"/items/{id}": DOC["paths"]["/items/{id}"]}}
    records = openapi.verify(context(tmp_path, {"shop": app.url}, 'schemathesis = ["shop"]\n', doc=doc))
    assert [r["consumer"] for r in records] == ["openapi:shop.yaml", "schemathesis:shop.yaml"]
    assert records[0]["status"] == "pass"  # the example (id 1) is fine ...
    [item] = records[1]["interactions"]  # ... generated ids are not
    assert item["id"] == "shop:GET /items/{id} (schemathesis)" and item["status"] == "fail"
    assert any("Server error" in m["message"] and "curl" in m["message"] for m in item["mismatches"])
    assert_valid(records)


def test_demo_catalog_document_names_a_renamed_field(tmp_path: Path, serve) -> None:
    """The shop's own catalog.yaml (3.0.3): a product whose price_cents was renamed fails exactly GET /products/{id}."""
    catalog = yaml.safe_load((Path(__file__).resolve().parents[2] / "examples/shop/contracts/openapi/catalog.yaml").read_text("utf-8"))
    product = {"id": 1, "name": "Espresso cup", "price": 1299, "currency": "EUR", "stock": 120}

    def broken(method: str, path: str, body: bytes) -> tuple[int, Any]:
        if path == "/health":
            return 200, {"status": "ok", "service": "catalog"}
        if path == "/products/1":
            return 200, product
        return 404, {}

    app = serve(broken)
    [record] = openapi.verify(context(tmp_path, {"catalog": app.url}, doc=catalog))
    statuses = {i["id"]: i["status"] for i in record["interactions"]}
    assert statuses["catalog:GET /health"] == "pass" and statuses["catalog:GET /products/{id}"] == "fail"
    paths = [m["path"] for m in items(record)["catalog:GET /products/{id}"]["mismatches"]]
    assert paths == ["$.price_cents", "$.price"]
