"""Valid contract documents the specifications allow are read; an invalid one is refused in one line: the file once, where, what to do.

OpenAPI: 3.1 documents are checked against the current official 3.1 schema
(vendored: openapi.spec.SCHEMA_31), so a Link Object's `server` passes and
the old schema's `body` does not; semantic checks (undeclared path parameters) still
run and name the operation and its path. AsyncAPI 3: channels are ids, addresses
may repeat (a request/reply pair on `/`) or be unknown; operations, replies and
their messages resolve through ids; payloads of other schema formats (Avro)
are recorded as not validated and their references never followed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from interlock import runspec
from interlock.artifacts import ArtifactDir, validation_errors
from interlock.config import load
from interlock.contracts import asyncapi, openapi
from interlock.contracts.openapi import spec as openapi_spec
from interlock.contracts.openapi.plan import operations
from interlock.errors import ConfigError, UsageError
from interlock.documents import PactFile, PactInteraction
from interlock.events import Notice
from interlock.phases.scope import build_matrix
from interlock.context import RunContext
from tests.unit.test_contracts_asyncapi import item, make, only_record, publish_action

ITEM_31: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "items", "version": "1"},
    "paths": {"/items/{id}": {"get": {
        "operationId": "getItem",
        "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
        "responses": {"200": {"description": "the item", "links": {"self": {"operationId": "getItem", "parameters": {"id": "$response.body#/id"},
                                                                            "server": {"url": "https://mirror.example.invalid"}}}}},
    }}},
}


def write(tmp_path: Path, doc: dict[str, Any], name: str = "api.yaml") -> openapi.Document:
    (tmp_path / name).write_text(yaml.safe_dump(doc, sort_keys=False), "utf-8")
    return openapi.load("api", name, tmp_path)


def one_line_naming_file_once(text: str, name: str) -> None:
    assert len(text.splitlines()) == 1, text
    assert text.count(name) == 1, f"names {name} {text.count(name)} times: {text}"


def test_openapi_31_link_with_server_is_read(tmp_path: Path) -> None:
    doc = write(tmp_path, ITEM_31)
    assert doc.problem is None and doc.app is not None


def test_openapi_31_link_with_the_old_schemas_body_is_refused_where_it_is(tmp_path: Path) -> None:
    link = ITEM_31["paths"]["/items/{id}"]["get"]["responses"]["200"]["links"]["self"]
    bad = yaml.safe_load(yaml.safe_dump(ITEM_31))
    bad["paths"]["/items/{id}"]["get"]["responses"]["200"]["links"]["self"] = {**{k: v for k, v in link.items() if k != "server"}, "body": link["server"]}
    doc = write(tmp_path, bad)
    assert doc.problem is not None and doc.app is None
    one_line_naming_file_once(doc.error or "", "api.yaml")
    assert doc.problem.key == "$.paths['/items/{id}'].get.responses['200'].links.self"
    assert "'body' was unexpected" in doc.problem.message and "fix the document against the OpenAPI 3.1 specification" in doc.problem.message


def test_the_vendored_31_schema_is_the_current_official_one() -> None:
    """The file is the official iteration it names (a changed byte must be a deliberate update, with this digest)."""
    schema = openapi_spec.schema_v31()
    assert schema["$id"] == openapi_spec.CURRENT_31 and schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "server" in schema["$defs"]["link"]["properties"] and "body" not in schema["$defs"]["link"]["properties"]
    assert hashlib.sha256(openapi_spec.SCHEMA_31.read_bytes()).hexdigest() == "1b8ccc6e34234b17536f2dd0eb3597142a32bd108438cd42471a5fca4c1a07ef"


def test_the_library_schema_alone_still_refuses_server(tmp_path: Path) -> None:
    """Why interlock vendors the schema: openapi-spec-validator's own 3.1 check refuses the valid document (when it stops, use the library's)."""
    from openapi_spec_validator import OpenAPIV31SpecValidator

    errors = list(OpenAPIV31SpecValidator(yaml.safe_load(yaml.safe_dump(ITEM_31))).iter_errors())
    assert any("'server' was unexpected" in str(e) for e in errors)
    assert not list(openapi_spec.validator_class("3.1")(yaml.safe_load(yaml.safe_dump(ITEM_31))).iter_errors())


@pytest.mark.parametrize("version", ["3.1.0", "3.0.3"])
def test_undeclared_path_parameter_names_operation_and_path_in_one_line(tmp_path: Path, version: str) -> None:
    bad = yaml.safe_load(yaml.safe_dump(ITEM_31))
    bad["openapi"] = version
    operation = bad["paths"]["/items/{id}"]["get"]
    operation.pop("parameters")
    operation["responses"]["200"].pop("links")
    doc = write(tmp_path, bad)
    assert doc.problem is not None
    one_line_naming_file_once(doc.error or "", "api.yaml")
    assert doc.problem.key == "$.paths['/items/{id}'].get"
    assert "GET /items/{id} uses path parameter {id}" in doc.problem.message
    assert "in: path, required: true" in doc.problem.message


@pytest.mark.parametrize(("field", "value"), [("openapi", "3.2.0"), ("openapi", "2.0"), ("swagger", "2.0")])
def test_unsupported_version_says_so(tmp_path: Path, field: str, value: str) -> None:
    doc = {k: v for k, v in ITEM_31.items() if k != "openapi"} | {field: value}
    found = write(tmp_path, doc)
    assert found.problem is not None
    assert found.problem.message.startswith("unsupported version"), found.problem.message
    assert "malformed" not in found.problem.message
    one_line_naming_file_once(found.error or "", "api.yaml")


def test_relaxations_of_the_current_31_schema(tmp_path: Path) -> None:
    """What the library's 2022-10-07 schema refused and the 3.1 specification allows: relative URLs, a Path Item `$ref` with siblings, fields beside a Reference's `$ref`."""
    doc = {
        "openapi": "3.1.0", "info": {"title": "t", "version": "1", "termsOfService": "terms.html"},
        "paths": {"/a": {"$ref": "#/components/pathItems/a", "summary": "a"}},
        "components": {"pathItems": {"a": {"get": {"responses": {"200": {"$ref": "#/components/responses/ok", "x-note": "ignored"}}}}},
                       "responses": {"ok": {"description": "ok"}}},
    }
    found = write(tmp_path, doc)
    assert found.problem is None, found.error


def test_example_and_examples_together_are_refused(tmp_path: Path) -> None:
    """The specification makes `example` and `examples` mutually exclusive; the current schema says so."""
    bad = yaml.safe_load(yaml.safe_dump(ITEM_31))
    bad["paths"]["/items/{id}"]["get"]["parameters"][0] |= {"example": 1, "examples": {"one": {"value": 1}}}
    found = write(tmp_path, bad)
    assert found.problem is not None and found.problem.key == "$.paths['/items/{id}'].get.parameters[0]", found.error


# --- AsyncAPI ---------------------------------------------------------------------------------

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
PING_PONG = yaml.safe_load((CORPUS / "valid" / "asyncapi-3-request-reply-same-address" / "docs" / "events.yaml").read_text("utf-8"))
AVRO_3 = yaml.safe_load((CORPUS / "valid" / "asyncapi-3-avro-payload-remote-ref" / "docs" / "events.yaml").read_text("utf-8"))
PING, PONG = {"event": "ping"}, {"event": "pong"}


def test_two_channels_on_one_address_are_two_channels_by_id(tmp_path: Path) -> None:
    document = asyncapi.load_asyncapi(make(tmp_path, PING_PONG).loaded.resolve("events.yaml"))
    ping, pong = document.channels
    assert (ping.id, ping.address, ping.operation, [m.name for m in ping.messages]) == ("pingRequest", "/", "receive", ["ping"])
    assert (pong.id, pong.address, pong.operation, [m.name for m in pong.messages]) == ("pongReply", "/", "send", ["pong"])  # the reply the app sends
    assert (ping.label, pong.label) == ("pingRequest (address /)", "pongReply (address /)")
    assert document.shared_addresses == {"/"} and document.on_address(ping) == (pong,)


def test_capture_on_a_shared_address_names_both_channels_and_tells_their_messages_apart(tmp_path: Path) -> None:
    """The reply channel's trigger makes the request and the reply appear on `/`: the request is pingRequest's, not a pongReply mismatch."""
    events: list[Any] = []
    ctx = make(tmp_path, PING_PONG, {"pingRequest": {"command": publish_action(("/", {}, PING))}, "pongReply": {"command": publish_action(("/", {}, PING), ("/", {}, PONG))}})
    ctx.emit = events.append
    record = only_record(ctx)
    assert [(i["id"], i["status"]) for i in record["interactions"]] == [("orders:publish pingRequest", "pass"), ("orders:publish pongReply", "pass")]
    assert [i["description"].split(":")[0] for i in record["interactions"]] == ["orders publishes on pingRequest (address /)", "orders publishes on pongReply (address /)"]
    notices = [e.message for e in events if isinstance(e, Notice)]
    assert notices == ["asyncapi orders: capturing channel pingRequest (address /)", "asyncapi orders: capturing channel pongReply (address /)"]


def test_on_a_shared_address_a_message_of_no_channel_fails_and_only_the_others_messages_is_no_message(tmp_path: Path) -> None:
    bad = make(tmp_path / "bad", PING_PONG, {"pongReply": {"command": publish_action(("/", {}, {"event": "pang"}))}})
    failed = item(only_record(bad), "pongReply")
    assert failed["status"] == "fail" and failed["mismatches"][0]["path"] == "$.payload.event"
    other = make(tmp_path / "other", PING_PONG, {"pongReply": {"command": publish_action(("/", {}, PING))}})
    missing = item(only_record(other), "pongReply")
    assert missing["status"] == "fail" and missing["mismatches"][0]["type"] == "NoMessage"
    assert "only messages of pingRequest on address /" in missing["mismatches"][0]["message"]


def test_a_shared_address_cannot_key_a_trigger_but_a_unique_one_can(tmp_path: Path) -> None:
    ctx = make(tmp_path, PING_PONG, {"/": {"command": ["true"]}})
    with pytest.raises(ConfigError) as raised:
        asyncapi.settings(ctx)
    [problem] = raised.value.problems
    assert "address '/' is shared by channels pingRequest, pongReply; name the channel by its id" in problem.message
    unique = make(tmp_path / "unique", AVRO_3, {"user/signedup": {"command": publish_action(("user/signedup", {}, "avro bytes"))}})
    assert item(only_record(unique), "userSignedUp")["status"] == "pass"


def test_scope_names_channels_by_id_with_the_address_beside_them(tmp_path: Path) -> None:
    ctx = make(tmp_path, PING_PONG, {"pongReply": {"command": ["true"]}})
    matrix = build_matrix(ctx, [], [])
    found = {i["id"]: (i.get("address"), [c["kind"] for c in i["checks"]]) for i in matrix["interfaces"] if i["kind"] == "message"}
    assert found == {"orders:publish pingRequest": ("/", []), "orders:publish pongReply": ("/", ["asyncapi"])}
    matrix["undeclared_pacts"] = []  # step 1.1 adds its scan of the contracts folder to what build_matrix decides
    assert validation_errors("integration-scope-matrix.json", matrix) == []


def test_avro_payload_by_remote_ref_is_read_and_recorded_not_validated(tmp_path: Path) -> None:
    ctx = make(tmp_path, AVRO_3, {"userSignedUp": {"command": publish_action(("user/signedup", {"trace_id": "t1"}, "Obj\\x01 binary avro"))}})
    [channel] = asyncapi.load_asyncapi(ctx.loaded.resolve("events.yaml")).channels
    [message] = channel.messages
    assert message.not_validated() == [{"message": "userSignedUp", "section": "payload", "schema_format": "application/vnd.apache.avro+json;version=1.9.0"}]
    record = only_record(ctx)
    [found] = record["interactions"]
    assert found["status"] == "pass" and found["not_validated"] == message.not_validated()
    settings = asyncapi.settings(ctx)
    assert settings["documents"][0]["not_validated"] == [{"channel": "userSignedUp", **message.not_validated()[0]}]


def test_avro_headers_violation_still_fails(tmp_path: Path) -> None:
    """Not validating the Avro payload does not turn the JSON Schema headers into a pass."""
    ctx = make(tmp_path, AVRO_3, {"userSignedUp": {"command": publish_action(("user/signedup", {"trace_id": 7}, "x"))}})
    [found] = only_record(ctx)["interactions"]
    assert found["status"] == "fail" and [m["path"] for m in found["mismatches"]] == ["$.headers.trace_id"]


@pytest.mark.parametrize("fmt", ["application/vnd.aai.asyncapi+json;version=3.0.0", "application/schema+json;version=draft-07"])
def test_a_remote_ref_interlock_would_need_is_refused_with_its_json_path(tmp_path: Path, fmt: str) -> None:
    doc = yaml.safe_load(yaml.safe_dump(AVRO_3))
    doc["components"]["messages"]["userSignedUp"]["payload"]["schemaFormat"] = fmt
    with pytest.raises(UsageError) as raised:
        asyncapi.load_asyncapi(make(tmp_path, doc).loaded.resolve("events.yaml"))
    [problem] = raised.value.problems
    assert problem.key == "$.components.messages.userSignedUp.payload.schema['$ref']"
    assert "is remote" in problem.message and "refer to the local copy" in problem.message
    one_line_naming_file_once(str(problem), "events.yaml")


def test_a_local_ref_is_resolved_and_validated(tmp_path: Path) -> None:
    doc = yaml.safe_load(yaml.safe_dump(AVRO_3))
    doc["components"]["messages"]["userSignedUp"]["payload"] = {"$ref": "user.json"}
    ctx = make(tmp_path, doc, {"userSignedUp": {"command": publish_action(("user/signedup", {}, {"id": "x"}))}})
    (tmp_path / "user.json").write_text('{"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}', "utf-8")
    [found] = only_record(ctx)["interactions"]
    assert found["status"] == "fail" and [m["path"] for m in found["mismatches"]] == ["$.payload.id"] and "not_validated" not in found


@pytest.mark.parametrize(("mutate", "path", "words"), [
    (lambda d: d["operations"]["pingRequest"]["messages"].__setitem__(0, {"$ref": "#/channels/pongReply/messages/pong"}),
     "$.operations.pingRequest.messages[0]['$ref']", "not a message of its channel 'pingRequest'"),
    (lambda d: d["operations"]["pingRequest"]["reply"]["messages"].__setitem__(0, {"$ref": "#/components/messages/ping"}),
     "$.operations.pingRequest.reply.messages[0]['$ref']", "the reply of operation 'pingRequest' lists"),
    (lambda d: d["operations"]["pingRequest"]["reply"].__setitem__("channel", {"$ref": "#/components/messages/pong"}),
     "$.operations.pingRequest.reply.channel", "must be a $ref to one of #/channels/<id> (pingRequest, pongReply)"),
    (lambda d: d["channels"]["pongReply"].__setitem__("address", 7), "$.channels.pongReply.address", "string or null"),
])
def test_operations_and_replies_resolve_through_ids(tmp_path: Path, mutate: Any, path: str, words: str) -> None:
    doc = yaml.safe_load(yaml.safe_dump(PING_PONG))
    mutate(doc)
    with pytest.raises(UsageError) as raised:
        asyncapi.load_asyncapi(make(tmp_path, doc).loaded.resolve("events.yaml"))
    [problem] = raised.value.problems
    assert problem.key == path and words in problem.message, str(problem)


def test_a_component_message_the_channel_refers_to_may_be_listed_by_its_component_ref(tmp_path: Path) -> None:
    doc = yaml.safe_load(yaml.safe_dump(PING_PONG))
    doc["operations"]["pingRequest"]["messages"] = [{"$ref": "#/components/messages/ping"}]
    [ping, _] = asyncapi.load_asyncapi(make(tmp_path, doc).loaded.resolve("events.yaml")).channels
    assert [m.name for m in ping.messages] == ["ping"]


def test_null_address_is_an_error_never_a_pass(tmp_path: Path) -> None:
    doc = yaml.safe_load(yaml.safe_dump(PING_PONG))
    doc["channels"]["pongReply"]["address"] = None
    found = item(only_record(make(tmp_path, doc, {"pongReply": {"command": ["true"]}})), "pongReply")
    assert found["status"] == "error" and found["mismatches"][0]["type"] == "NoAddress"


@pytest.mark.parametrize("version", ["1.2.0", "4.0.0"])
def test_unsupported_asyncapi_version_says_so_not_malformed(tmp_path: Path, version: str) -> None:
    with pytest.raises(UsageError) as raised:
        asyncapi.load_asyncapi(make(tmp_path, {**PING_PONG, "asyncapi": version}).loaded.resolve("events.yaml"))
    [problem] = raised.value.problems
    assert problem.message.startswith(f"unsupported version: asyncapi '{version}'") and "malformed" not in problem.message
    one_line_naming_file_once(str(problem), "events.yaml")


def test_a_pact_message_topic_joins_the_one_channel_with_that_address(tmp_path: Path) -> None:
    ctx = make(tmp_path, AVRO_3)
    pact = PactFile(tmp_path / "pacts" / "audit-users.json", "audit", "orders", "3.0.0", "message", (PactInteraction("user/signedup", ()),))
    matrix = build_matrix(ctx, [], [pact])
    [interface] = [i for i in matrix["interfaces"] if i["kind"] == "message"]
    assert interface["id"] == "orders:publish userSignedUp" and [c["kind"] for c in interface["checks"]] == ["pact"]
    shared = make(tmp_path / "shared", PING_PONG)
    pact = PactFile(tmp_path / "shared" / "pacts" / "client.json", "client", "orders", "3.0.0", "message", (PactInteraction("/", ()),))
    ids = sorted(i["id"] for i in build_matrix(shared, [], [pact])["interfaces"] if i["kind"] == "message")
    assert ids == ["orders:publish /", "orders:publish pingRequest", "orders:publish pongReply"]  # ambiguous: not guessed


def test_scope_sees_the_operations_behind_a_path_item_ref(tmp_path: Path) -> None:
    """Step 2.2 checks an operation reached through a Path Item `$ref` (valid 3.1): the scope matrix lists it too, under the same id."""
    doc = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {"/a": {"$ref": "#/components/pathItems/a"}},
           "components": {"pathItems": {"a": {"get": {"responses": {"200": {"description": "ok"}}}}}}}
    (tmp_path / "api.yaml").write_text(yaml.safe_dump(doc), "utf-8")
    config = make(tmp_path, PING_PONG).loaded.path
    config.write_text(config.read_text("utf-8").replace('asyncapi = "events.yaml"', 'asyncapi = "events.yaml"\nopenapi = "api.yaml"'), "utf-8")
    ctx = RunContext(runspec.build(load(config), "test"), ArtifactDir(tmp_path / "art"), lambda e: None, lambda k: (False, "test"), "run1")
    http = [i["id"] for i in build_matrix(ctx, [], [])["interfaces"] if i["kind"] == "http"]
    assert http == ["orders:GET /a"]
    assert [o.interface_id for o in operations(openapi.load("orders", "api.yaml", tmp_path).app.spec, "orders")] == http
