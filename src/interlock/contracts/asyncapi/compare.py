"""A captured message against a channel's message schemas: every violation a mismatch at its JSON path (pure)."""

from __future__ import annotations

import json
from typing import Any

from interlock.brokers.base import Captured
from interlock.contracts.asyncapi.document import AsyncApiDocument, Channel, Loc, Message, validator_class
from interlock.documents import json_path

MAX_MISMATCHES = 50


def _small(value: Any) -> Any:
    """A JSON-safe value for the results artifact, long ones shortened."""
    text = json.dumps(value, default=str)
    if len(text) <= 300:
        return json.loads(text)
    return text[:297] + "..."


def _violations(document: AsyncApiDocument, where: tuple[str, Loc], fmt: str | None, instance: Any, section: str, kind: str) -> list[dict[str, Any]]:
    out = []
    errors = sorted(document.validator(where, fmt).iter_errors(instance), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    for error in errors:
        path = "$." + section + error.json_path[1:]
        expected, actual = _small({error.validator: error.validator_value}), _small(error.instance)
        if error.validator == "required" and isinstance(error.validator_value, list):
            missing = next((p for p in error.validator_value if error.message == f"{p!r} is a required property"), None)
            if missing is not None:  # point at the absent property itself
                path, expected, actual = path + json_path((str(missing),))[1:], {"required": missing}, None
        out.append({"type": kind, "path": path, "expected": expected, "actual": actual, "message": error.message})
    return out


def _decode(body: bytes, content_type: str) -> tuple[Any, str | None]:
    """The payload as data: JSON for JSON content types (and by default), text for text/*."""
    base = content_type.split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"payload is not UTF-8 text ({content_type}): {exc}"
    if base.startswith("text/"):
        return text, None
    try:
        return json.loads(text), None
    except ValueError as exc:
        return None, f"payload is not valid JSON ({content_type}): {exc}"


def message_mismatches(document: AsyncApiDocument, message: Message, captured: Captured) -> list[dict[str, Any]]:
    """Every way `captured` breaks `message`'s payload and headers schemas (empty: it conforms)."""
    found: list[dict[str, Any]] = []
    if message.payload is not None and validator_class(message.payload_format) is not None:
        value, problem = _decode(captured.body, message.content_type)
        if problem:
            found.append({"type": "PayloadMismatch", "path": "$.payload", "expected": message.content_type, "actual": _small(captured.body.decode("utf-8", "replace")), "message": problem})
        else:
            found += _violations(document, message.payload, message.payload_format, value, "payload", "PayloadMismatch")
    if message.headers is not None and validator_class(message.headers_format) is not None:
        found += _violations(document, message.headers, message.headers_format, captured.headers, "headers", "HeaderMismatch")
    return found[:MAX_MISMATCHES]


def check_captured(document: AsyncApiDocument, channel: Channel, captured: Captured) -> list[dict[str, Any]]:
    """The mismatches of one captured message against the channel's messages: none when it matches one of them."""
    if not channel.messages:
        return []
    results = [(m, message_mismatches(document, m, captured)) for m in channel.messages]
    for _, found in results:
        if not found:
            return []
    closest, found = min(results, key=lambda r: len(r[1]))
    if len(results) == 1:
        return found
    prefix = f"matches none of the channel's {len(results)} messages; closest is {closest.name}: "
    return [{**m, "message": prefix + m["message"]} for m in found]
