"""Message pacts verified against what the producer really published, through interlock's real verification.

A text/plain and an application/xml message pact pass when the producer sends
them, and fail when it sends JSON instead, on a real broker: Redis pub/sub
(which carries no content type, so interlock assumes it from the bytes), a
Redis Stream (a `content-type` field of the entry) and AMQP (its content-type
property). The stream and AMQP cases also send the right bytes under the wrong
content type: a capture that assumed the type from the bytes, or hard-coded
one, would pass it. A capture whose timeout exceeds
pact's request timeout still reports its own reason, not the verifier's
transport error.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import pytest

from interlock import runspec
from interlock.artifacts import ArtifactDir
from interlock.config import load
from interlock.context import RunContext
from tests.support import config_head

pytestmark = pytest.mark.services

TEXT = "patient 42 admitted to ward B"
XML = '<admission><patient id="42">Ada</patient><ward>B</ward></admission>'
JSON_TEXT = json.dumps({"text": TEXT})
JSON_XML = json.dumps({"admission": {"patient": {"id": 42, "name": "Ada"}, "ward": "B"}})

PACT = {
    "consumer": {"name": "ward-board"},
    "provider": {"name": "admissions"},
    "messages": [
        {"description": "an admission note", "providerStates": [], "contents": TEXT, "metadata": {"contentType": "text/plain"}},
        {"description": "an admission record", "providerStates": [], "contents": XML, "metadata": {"contentType": "application/xml"}},
    ],
    "metadata": {"pactSpecification": {"version": "3.0.0"}},
}

#: The producer: publishes one message (`as-produced`: the pact's own; `json`: the same facts as JSON;
#: `mislabelled`: the pact's own bytes under content type application/json, where the protocol can say so).
PRODUCER = '''
import asyncio, json, sys
kind, url, topic, which, variant = sys.argv[1:6]
texts = {"note": (%r, "text/plain", %r), "record": (%r, "application/xml", %r)}
body, content_type, as_json = texts[which]
if variant == "json":
    body, content_type = as_json, "application/json"
elif variant == "mislabelled":
    content_type = "application/json"
if kind == "redis":
    import redis
    redis.Redis.from_url(url).publish(topic, body.encode())
elif kind == "redis-stream":
    import redis
    redis.Redis.from_url(url).xadd(topic, {"payload": body.encode(), "content-type": content_type, "ward": "B"})
else:
    import aio_pika
    async def main():
        async with await aio_pika.connect(url) as connection:
            channel = await connection.channel()
            message = aio_pika.Message(body.encode(), content_type=content_type, correlation_id="adm-42", headers={"ward": "B"})
            await channel.default_exchange.channel.get_exchange("amq.topic")
            exchange = await channel.get_exchange("amq.topic", ensure=True)
            await exchange.publish(message, routing_key=topic)
    asyncio.run(main())
''' % (TEXT, JSON_TEXT, XML, JSON_XML)


def verify(tmp_path: Path, kind: str, url: str, variant: str, *, silent: bool = False, timeout: float = 5, request_timeout_ms: int = 5000) -> dict[str, dict[str, object]]:
    """Verify the two message pacts with interlock against a producer that publishes `variant`; the interactions by description."""
    from interlock.contracts import pact

    (tmp_path / "pacts").mkdir(exist_ok=True)
    (tmp_path / "pacts" / "ward-board-admissions.json").write_text(json.dumps(PACT), "utf-8")
    (tmp_path / "producer.py").write_text(PRODUCER, "utf-8")
    topic = f"interlock.test.{uuid.uuid4().hex[:12]}"
    mode = {"redis": '\nmode = "pubsub"', "redis-stream": '\nmode = "stream"'}.get(kind, "")
    messages = ""
    for description, which in (("an admission note", "note"), ("an admission record", "record")):
        command = [sys.executable, "-c", "pass"] if silent else [sys.executable, str(tmp_path / "producer.py"), kind, url, f"{topic}.{which}", which, variant]
        messages += f"""
[contracts.pact.messages."{description}"]
broker = "bus"
topic = "{topic}.{which}"
timeout = {timeout}
trigger = {{ command = {json.dumps(command)} }}
"""
    (tmp_path / "interlock.toml").write_text(config_head("t") + f"""
[services.admissions]
[environments.test.services.admissions]
url = "http://127.0.0.1:9"
[environments.test.brokers.bus]
kind = "{kind.removesuffix('-stream')}"
url = {json.dumps(url)}{mode}
[contracts.pact]
sources = ["pacts"]
request_timeout_ms = {request_timeout_ms}
{messages}""", "utf-8")
    ctx = RunContext(runspec.build(load(tmp_path / "interlock.toml"), "test"), ArtifactDir(tmp_path / "art"), lambda e: None, lambda k: (False, "test"), "run1")
    [record] = pact.verify(ctx)
    return {str(i["description"]): i for i in record["interactions"]}


@pytest.mark.parametrize("kind", ["redis", "redis-stream", "amqp"])
def test_text_and_xml_message_pacts_pass_as_produced(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(f"{kind.removesuffix('-stream')}_url")
    found = verify(tmp_path, kind, url, "as-produced")
    assert {d: (i["status"], i["mismatches"]) for d, i in found.items()} == {"an admission note": ("pass", []), "an admission record": ("pass", [])}


@pytest.mark.parametrize("kind", ["redis", "amqp"])
def test_text_and_xml_message_pacts_fail_when_the_producer_sends_json(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(f"{kind}_url")
    found = verify(tmp_path, kind, url, "json")
    for description, item in found.items():
        assert item["status"] == "fail", (description, item)
        assert item["mismatches"] and all(m["type"] not in ("NoMessage", "CaptureFailed", "error") for m in item["mismatches"]), item  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["amqp", "redis-stream"])
def test_the_producers_content_type_is_judged_not_assumed(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """The pact's own bytes labelled application/json (AMQP's content-type property, a stream entry's
    `content-type` field): a capture that guessed the type from the bytes, or forced one, would pass this."""
    found = verify(tmp_path, kind, request.getfixturevalue(f"{kind.removesuffix('-stream')}_url"), "mislabelled")
    assert {d: i["status"] for d, i in found.items()} == {"an admission note": "fail", "an admission record": "fail"}, found


def test_no_message_on_pubsub_is_the_captures_reason_beyond_the_request_timeout(tmp_path: Path, redis_url: str) -> None:
    """A capture timeout (2 s) above pact's request timeout (1 s): the verdict is the capture's, naming channel and mode."""
    found = verify(tmp_path, "redis", redis_url, "as-produced", silent=True, timeout=2, request_timeout_ms=1000)
    for item in found.values():
        [mismatch] = item["mismatches"]  # type: ignore[misc]
        assert (item["status"], mismatch["type"]) == ("fail", "NoMessage"), item
        assert "on Redis pubsub channel 'interlock.test." in mismatch["message"] and mismatch["message"].endswith("within 2s"), mismatch
