"""AsyncAPI contracts on the embedded log: subscribe, trigger, capture, validate; no servers needed.

The broker is a temp SQLite file with the demo bus's `messages` table; the
trigger is a `command` action whose tiny `python -c` script appends a row, as
the shop's orders service does when an order is stored.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import yaml

from interlock import runspec
from interlock.artifacts import ArtifactDir, validation_errors
from interlock.config import load
from interlock.contracts import asyncapi
from interlock.brokers.base import Captured
from interlock.brokers.redis import stream_entry
from interlock.errors import ConfigError, UsageError
from interlock.phases import contracts as contracts_phase
from interlock.context import RunContext
from tests.support import orders_on_a_broker

SHOP_DOC = Path(__file__).resolve().parents[2] / "examples" / "shop" / "contracts" / "asyncapi" / "orders-events.yaml"

# The exact schema of examples/shop/shop/bus.py's embedded log.
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL,"
    " headers TEXT NOT NULL, body TEXT NOT NULL, published_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS consumer_offsets (consumer TEXT PRIMARY KEY, last_id INTEGER NOT NULL)",
)
PUBLISH = (
    "import sqlite3, sys\n"
    "db = sqlite3.connect(sys.argv[1])\n"
    "for topic, headers, body in zip(*[iter(sys.argv[2:])] * 3):\n"
    "    db.execute(\"INSERT INTO messages (topic, headers, body, published_at) VALUES (?, ?, ?, '2026-01-01T00:00:00Z')\", (topic, headers, body))\n"
    "db.commit()\n"
)

GOOD = {"order_id": "3ca68efa-9b9e-4683-9c55-fd109ab7a234", "product_id": 1, "quantity": 2, "total_cents": 2598, "currency": "EUR", "created_at": "2026-11-26T11:16:12.178Z"}
HEADERS = {"event_type": "order.created", "schema_version": "1"}

DOC_V2: dict[str, Any] = {
    "asyncapi": "2.6.0",
    "info": {"title": "orders events", "version": "1.0.0"},
    "channels": {
        "order.created": {"subscribe": {"message": {"$ref": "#/components/messages/OrderCreated"}}},
        "order.cancelled": {"subscribe": {"message": {"payload": {"type": "object"}}}},
    },
    "components": {
        "messages": {"OrderCreated": {
            "name": "order.created", "contentType": "application/json",
            "headers": {"$ref": "#/components/schemas/Headers"}, "payload": {"$ref": "#/components/schemas/OrderCreated"},
        }},
        "schemas": {
            "Headers": {"type": "object", "required": ["event_type", "schema_version"], "properties": {
                "event_type": {"type": "string", "const": "order.created"}, "schema_version": {"type": "string", "const": "1"}}},
            "OrderCreated": {
                "type": "object", "additionalProperties": False, "required": list(GOOD),
                "properties": {
                    "order_id": {"type": "string", "format": "uuid"}, "product_id": {"type": "integer", "minimum": 1},
                    "quantity": {"$ref": "#/components/schemas/Quantity"}, "total_cents": {"type": "integer", "minimum": 0},
                    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}, "created_at": {"type": "string", "format": "date-time"},
                },
            },
            "Quantity": {"type": "integer", "minimum": 1},
        },
    },
}

CONFIG = orders_on_a_broker("events.yaml", "embedded-log", "sqlite:///{root}/bus.db") + """[contracts.asyncapi]
"""


def publish_action(*messages: tuple[str, Any, Any]) -> list[str]:
    """A command that appends (topic, headers, payload) rows to the log; str payloads go in verbatim."""
    args = ["{python}", "-c", PUBLISH, "{root}/bus.db"]
    for topic, headers, body in messages:
        args += [topic, json.dumps(headers), body if isinstance(body, str) else json.dumps(body)]
    return args


def make(root: Path, document: Any = None, channels: dict[str, dict[str, Any]] | None = None, *, suffix: str = ".yaml") -> RunContext:
    """A system in `root`: the AsyncAPI document, the log, and a config with the given channel entries."""
    root.mkdir(parents=True, exist_ok=True)
    doc_path = root / f"events{suffix}"
    if isinstance(document, str):
        doc_path.write_text(document, "utf-8")
    else:
        data = DOC_V2 if document is None else document
        doc_path.write_text(json.dumps(data) if suffix == ".json" else yaml.safe_dump(data, sort_keys=False), "utf-8")
    with closing(sqlite3.connect(root / "bus.db")) as db:
        for statement in SCHEMA:
            db.execute(statement)
        db.commit()
    text = CONFIG.replace('asyncapi = "events.yaml"', f'asyncapi = "events{suffix}"')
    for name, entry in (channels or {}).items():
        text += f'[contracts.asyncapi.channels."{name}"]\nbroker = "{entry.get("broker", "bus")}"\ntimeout = {entry.get("timeout", 3)}\n'
        text += f"trigger = {{ command = {json.dumps(entry['command'])} }}\n"
    (root / "interlock.toml").write_text(text, "utf-8")
    return RunContext(runspec.build(load(root / "interlock.toml"), "test"), ArtifactDir(root / "art"), lambda e: None, lambda k: (False, "test"), "run1")


def only_record(ctx: RunContext) -> dict[str, Any]:
    [record] = asyncapi.verify(ctx)
    return record


def item(record: dict[str, Any], channel: str) -> dict[str, Any]:
    return next(i for i in record["interactions"] if i["id"] == f"orders:publish {channel}")


# --- verify() on the embedded log ----------------------------------------------


def test_conforming_message_passes_and_unconfigured_channel_is_unexercised(tmp_path: Path) -> None:
    ctx = make(tmp_path, channels={"order.created": {"command": publish_action(("order.created", HEADERS, GOOD))}})
    record = only_record(ctx)
    assert (record["kind"], record["consumer"], record["provider"], record["source"]) == ("asyncapi", "asyncapi:events.yaml", "orders", "events.yaml")
    assert record["specification"] == "AsyncAPI 2.6.0"
    created, cancelled = item(record, "order.created"), item(record, "order.cancelled")
    assert created["status"] == "pass", created["mismatches"]
    assert created["mismatches"] == [] and created["duration_ms"] > 0
    assert cancelled["status"] == "not_executed"
    assert cancelled["mismatches"][0]["message"] == "no trigger configured: unexercised"
    assert record["status"] == "fail"  # an unexercised channel is never a pass
    counts = contracts_phase.summarise([record])
    assert (counts["passed"], counts["not_executed"]) == (1, 1)


def test_payload_violations_fail_with_their_json_paths(tmp_path: Path) -> None:
    bad = {**GOOD, "quantity": 0, "currency": "eur", "surprise": True}
    del bad["total_cents"]
    ctx = make(tmp_path, channels={"order.created": {"command": publish_action(("order.created", HEADERS, bad))}})
    created = item(only_record(ctx), "order.created")
    assert created["status"] == "fail"
    by_path = {m["path"]: m for m in created["mismatches"]}
    assert set(by_path) == {"$.payload.quantity", "$.payload.currency", "$.payload.total_cents", "$.payload"}
    assert by_path["$.payload.quantity"] == {"type": "PayloadMismatch", "path": "$.payload.quantity", "expected": {"minimum": 1}, "actual": 0, "message": "0 is less than the minimum of 1"}
    assert by_path["$.payload.total_cents"]["expected"] == {"required": "total_cents"} and by_path["$.payload.total_cents"]["actual"] is None
    assert "'surprise' was unexpected" in by_path["$.payload"]["message"]


def test_header_violations_fail_with_their_json_paths(tmp_path: Path) -> None:
    ctx = make(tmp_path, channels={"order.created": {"command": publish_action(("order.created", {"event_type": "order.placed"}, GOOD))}})
    created = item(only_record(ctx), "order.created")
    assert created["status"] == "fail"
    assert sorted((m["type"], m["path"]) for m in created["mismatches"]) == [("HeaderMismatch", "$.headers.event_type"), ("HeaderMismatch", "$.headers.schema_version")]
    assert next(m for m in created["mismatches"] if m["path"] == "$.headers.event_type")["actual"] == "order.placed"


def test_payload_that_is_not_json_fails_at_the_payload(tmp_path: Path) -> None:
    ctx = make(tmp_path, channels={"order.created": {"command": publish_action(("order.created", HEADERS, "{not json"))}})
    [mismatch] = item(only_record(ctx), "order.created")["mismatches"]
    assert (mismatch["path"], mismatch["type"]) == ("$.payload", "PayloadMismatch") and "not valid JSON" in mismatch["message"]


def test_no_message_within_the_timeout_fails(tmp_path: Path) -> None:
    # The producer publishes, but on another topic: nothing arrives on the channel.
    ctx = make(tmp_path, channels={"order.created": {"timeout": 0.5, "command": publish_action(("order.shipped", HEADERS, GOOD))}})
    created = item(only_record(ctx), "order.created")
    assert created["status"] == "fail"
    assert created["mismatches"] == [{"type": "NoMessage", "path": None, "message": "no message on order.created within 0.5s"}]
    assert created["duration_ms"] >= 500


def test_a_message_already_on_the_log_is_not_taken_for_the_producers_answer(tmp_path: Path) -> None:
    ctx = make(tmp_path, channels={"order.created": {"timeout": 0.5, "command": ["{python}", "-c", "pass"]}})
    with closing(sqlite3.connect(tmp_path / "bus.db")) as db:  # published before interlock subscribed
        db.execute("INSERT INTO messages (topic, headers, body, published_at) VALUES ('order.created', ?, ?, 'x')", (json.dumps(HEADERS), json.dumps(GOOD)))
        db.commit()
    assert item(only_record(ctx), "order.created")["mismatches"][0]["type"] == "NoMessage"


def test_every_message_of_a_burst_is_validated(tmp_path: Path) -> None:
    ctx = make(tmp_path, channels={"order.created": {"command": publish_action(("order.created", HEADERS, GOOD), ("order.created", HEADERS, {**GOOD, "quantity": -1}))}})
    created = item(only_record(ctx), "order.created")
    assert created["status"] == "fail"
    [mismatch] = created["mismatches"]
    assert mismatch["path"] == "$.payload.quantity" and mismatch["message"].startswith("message 2 of 2: ")


def test_failing_trigger_is_an_error_with_its_reason(tmp_path: Path) -> None:
    ctx = make(tmp_path, channels={"order.created": {"command": ["{python}", "-c", "import sys; sys.exit('orders is down')"]}})
    created = item(only_record(ctx), "order.created")
    assert created["status"] == "error"
    assert created["mismatches"][0]["type"] == "TriggerFailed" and "orders is down" in created["mismatches"][0]["message"]


def test_contracts_step_writes_valid_artifacts(tmp_path: Path) -> None:
    ctx = make(tmp_path, channels={"order.created": {"command": publish_action(("order.created", HEADERS, GOOD))}, "order.cancelled": {"command": publish_action(("order.cancelled", {}, {"id": 1}))}})
    outcome = contracts_phase.run(ctx)
    results = json.loads((tmp_path / "art" / "contract-validation-results.json").read_text())
    config = json.loads((tmp_path / "art" / "contract-validation-config.json").read_text())
    assert validation_errors("contract-validation-results.json", results) == []
    assert validation_errors("contract-validation-config.json", config) == []
    assert outcome.status == "pass" and results["summary"]["passed"] == 2
    assert all("not_validated" not in i for c in results["contracts"] for i in c["interactions"])
    settings = config["validators"]["asyncapi"]
    assert settings["channels"]["order.created"]["broker_kind"] == "embedded-log"
    assert settings["documents"][0]["channels"] == ["order.created", "order.cancelled"] and settings["unexercised"] == []


# --- AsyncAPI 3.x, oneOf, schema formats -----------------------------------------

DOC_V3: dict[str, Any] = {
    "asyncapi": "3.0.0",
    "info": {"title": "orders events", "version": "1.0.0"},
    "channels": {
        "orderCreated": {"address": "order.created", "messages": {
            "created": {"$ref": "#/components/messages/OrderCreated"},
            "legacy": {"payload": {"type": "string"}},
        }},
        "inbox": {"address": "orders.inbox", "messages": {"cmd": {"payload": {"type": "object"}}}},
    },
    "operations": {
        "publishCreated": {"action": "send", "channel": {"$ref": "#/channels/orderCreated"}, "messages": [{"$ref": "#/channels/orderCreated/messages/created"}]},
        "receiveInbox": {"action": "receive", "channel": {"$ref": "#/channels/inbox"}},
    },
    "components": {
        "messages": {"OrderCreated": {
            "headers": {"$ref": "#/components/schemas/Headers"},
            "payload": {"schemaFormat": "application/schema+json;version=draft-07", "schema": {"$ref": "#/components/schemas/OrderCreated"}},
        }},
        "schemas": DOC_V2["components"]["schemas"],
    },
}


def test_asyncapi_3_channels_operations_and_multi_format_schemas(tmp_path: Path) -> None:
    document = asyncapi.load_asyncapi(make(tmp_path, DOC_V3, suffix=".json").loaded.resolve("events.json"))
    created, inbox = document.channels
    assert (created.id, created.address, created.operation, [m.name for m in created.messages]) == ("orderCreated", "order.created", "send", ["OrderCreated"])
    assert created.label == "orderCreated (address order.created)"
    assert created.messages[0].payload_format == "application/schema+json;version=draft-07"
    assert (inbox.id, inbox.address, inbox.operation, [m.name for m in inbox.messages]) == ("inbox", "orders.inbox", "receive", ["cmd"])
    ctx = make(tmp_path / "run", DOC_V3, {"orderCreated": {"command": publish_action(("order.created", HEADERS, {**GOOD, "quantity": "2"}))}})
    record = only_record(ctx)
    bad = item(record, "orderCreated")  # configured and named by channel id, captured on its address
    assert bad["status"] == "fail" and [m["path"] for m in bad["mismatches"]] == ["$.payload.quantity"]
    assert "orderCreated (address order.created)" in bad["description"]
    assert item(record, "inbox")["status"] == "not_executed"


def test_one_of_messages_pass_when_any_matches_and_name_the_closest_when_none_does() -> None:
    document = asyncapi.load_asyncapi(SHOP_DOC)
    base = document.channels[0].messages[0]
    text = asyncapi.Message("text", base.uri, base.parts, "text/plain")
    channel = asyncapi.Channel("order.created", "order.created", "subscribe", (base, text))
    assert asyncapi.check_captured(document, channel, Captured(b"anything", {})) == []  # the second message has no schema
    strict = asyncapi.Channel("order.created", "order.created", "subscribe", (base, asyncapi.Message("other", base.uri, base.parts, "application/json", headers=base.headers)))
    found = asyncapi.check_captured(document, strict, Captured(json.dumps(GOOD).encode(), {}))
    assert found and all(m["message"].startswith("matches none of the channel's 2 messages; closest is") for m in found)


def test_one_of_in_the_document(tmp_path: Path) -> None:
    doc = json.loads(json.dumps(DOC_V2))
    doc["channels"]["order.created"]["subscribe"]["message"] = {"oneOf": [{"$ref": "#/components/messages/OrderCreated"}, {"name": "ping", "payload": {"type": "object", "required": ["ping"]}}]}
    ctx = make(tmp_path, doc, {"order.created": {"command": publish_action(("order.created", {}, {"ping": 1}))}})
    assert item(only_record(ctx), "order.created")["status"] == "pass"


def test_avro_payload_is_recorded_as_not_validated_and_its_headers_still_are(tmp_path: Path) -> None:
    doc = json.loads(json.dumps(DOC_V2))
    doc["components"]["messages"]["OrderCreated"]["schemaFormat"] = "application/vnd.apache.avro;version=1.9.0"
    doc["components"]["messages"]["OrderCreated"]["payload"] = {"type": "record", "name": "Order", "fields": [{"name": "id", "type": "string"}]}
    ctx = make(tmp_path, doc, {"order.created": {"command": publish_action(("order.created", HEADERS, "Obj\\x01 avro, not JSON"))}})
    created = item(only_record(ctx), "order.created")
    assert created["status"] == "pass", created
    assert created["not_validated"] == [{"message": "order.created", "section": "payload", "schema_format": "application/vnd.apache.avro;version=1.9.0"}]
    assert "not validated: order.created payload" in created["description"]
    bad_headers = make(tmp_path / "bad", doc, {"order.created": {"command": publish_action(("order.created", {"event_type": "other"}, "x"))}})
    failed = item(only_record(bad_headers), "order.created")
    assert failed["status"] == "fail" and {m["path"] for m in failed["mismatches"]} == {"$.headers.event_type", "$.headers.schema_version"}


def test_a_captured_bad_demo_message_fails_with_its_path() -> None:
    """The demo's own document: a real-looking order.created with a broken field."""
    document = asyncapi.load_asyncapi(SHOP_DOC)
    [channel] = document.channels
    assert asyncapi.check_captured(document, channel, Captured(json.dumps(GOOD).encode(), HEADERS)) == []
    found = asyncapi.check_captured(document, channel, Captured(json.dumps({**GOOD, "total_cents": "25.98"}).encode(), HEADERS))
    assert [(m["path"], m["expected"], m["actual"]) for m in found] == [("$.payload.total_cents", {"type": "integer"}, "25.98")]


# --- malformed documents and config --------------------------------------------


def _broken(mutate) -> dict[str, Any]:
    doc = json.loads(json.dumps(DOC_V2))
    mutate(doc)
    return doc


@pytest.mark.parametrize(("document", "path", "words"), [
    (_broken(lambda d: d.pop("asyncapi")), "$.asyncapi", "version key is missing"),
    (_broken(lambda d: d.update(asyncapi="1.2.0")), "$.asyncapi", "unsupported version: asyncapi '1.2.0'"),
    (_broken(lambda d: d.pop("channels")), "$.channels", "requires `channels`"),
    (_broken(lambda d: d["channels"].update({"x": "nope"})), "$.channels.x", "a channel must be an object"),
    (_broken(lambda d: d["channels"]["order.created"]["subscribe"]["message"].update({"$ref": "#/components/messages/Nope"})),
     "$.channels['order.created'].subscribe.message['$ref']", "does not resolve"),
    (_broken(lambda d: d["components"]["schemas"]["OrderCreated"]["properties"].update(quantity={"$ref": "#/components/schemas/Qty"})),
     "$.components.schemas.OrderCreated.properties.quantity['$ref']", "does not resolve"),
    (_broken(lambda d: d["components"]["schemas"]["Headers"].update(type=12)), "$.components.schemas.Headers.type", "invalid schema Headers"),
    (_broken(lambda d: d["channels"]["order.cancelled"]["subscribe"].update(message={"oneOf": []})),
     "$.channels['order.cancelled'].subscribe.message.oneOf", "non-empty list"),
    ({**DOC_V3, "operations": {"bad": {"action": "publish", "channel": {"$ref": "#/channels/inbox"}}}}, "$.operations.bad.action", "`send` or `receive`"),
    ({**DOC_V3, "operations": {"bad": {"action": "send", "channel": {"$ref": "#/components/schemas/Headers"}}}}, "$.operations.bad.channel", "#/channels/<id>"),
    ("asyncapi: 2.6.0\nchannels: [unclosed\n", None, "not valid YAML"),
])
def test_malformed_document_is_a_usage_error_naming_file_and_path(tmp_path: Path, document: Any, path: str | None, words: str) -> None:
    ctx = make(tmp_path, document)
    with pytest.raises(UsageError) as raised:
        asyncapi.verify(ctx)
    [problem] = raised.value.problems
    assert problem.file == str(tmp_path / "events.yaml")
    assert problem.key == path and words in problem.message, str(problem)


def test_configured_channel_no_document_declares_and_unknown_broker_are_config_errors(tmp_path: Path) -> None:
    ctx = make(tmp_path / "a", channels={"order.creatd": {"command": ["true"]}})
    with pytest.raises(ConfigError) as raised:
        asyncapi.settings(ctx)
    messages = [str(p) for p in raised.value.problems]
    assert any("no AsyncAPI document of [services] declares channel 'order.creatd'" in m and "interlock.toml:" in m for m in messages), messages
    with pytest.raises(ConfigError) as refused:  # an undeclared broker is refused when the config loads (`config check`)
        make(tmp_path / "b", channels={"order.created": {"broker": "kafka", "command": ["true"]}})
    messages = [str(p) for p in refused.value.problems]
    assert any("broker 'kafka' is not defined in environment 'test'" in m and "[contracts.asyncapi.channels.order.created.broker]" in m for m in messages), messages


def test_document_without_channels_is_not_executed_never_a_pass(tmp_path: Path) -> None:
    record = only_record(make(tmp_path, {"asyncapi": "3.0.0", "info": {"title": "t", "version": "1"}}))
    assert record["interactions"] == [] and record["status"] == "not_executed" and "no channels" in record["reason"]
    assert contracts_phase.summarise([record])["not_executed"] == 1


def test_redis_stream_entries_become_payload_and_headers() -> None:
    entry = stream_entry({b"payload": b'{"a": 1}', b"headers": b'{"event_type": "x"}', b"trace": b"t1"})
    assert entry == Captured(b'{"a": 1}', {"event_type": "x", "trace": "t1"})
    assert json.loads(stream_entry({b"a": b"1", b"b": b"2"}).body) == {"a": "1", "b": "2"}
