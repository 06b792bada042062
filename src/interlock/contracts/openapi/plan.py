"""OpenAPI operations and the requests that exercise them (pure).

A request is built from the document's own examples (a parameter's `example`
or `examples`, the request body's media `example`/`examples`, or the schema's
`example`, composed from its properties' examples when it has none itself),
and a fixture of the config overrides it key by key: its `path`, `query` and
`headers` values replace the example's, its `body` replaces the example body,
and whatever it leaves out still comes from the document. An operation whose
required inputs have no value at all is not exercised (`Unexercised`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable
from urllib.parse import quote, urlencode

from jsonschema_path import SchemaPath

from interlock.documents import HTTP_METHODS

NONE: Any = object()  # "no example": None is a legitimate example value
IGNORED_HEADERS = {"accept", "content-type", "authorization"}  # OpenAPI ignores header parameters of these names
MAX_DEPTH = 8


def get(node: SchemaPath, key: str, default: Any = None) -> Any:
    """A key's plain value ($refs on the way resolved), or `default`."""
    return (node / key).read_value() if key in node else default


class Unexercised(Exception):
    """A required input of the operation has no example and no fixture value."""


@dataclass(frozen=True)
class Operation:
    service: str
    method: str  # upper case
    template: str  # the path template as documented
    node: SchemaPath  # the Operation Object
    parameters: tuple[SchemaPath, ...]  # path-level and operation-level, the latter winning

    @property
    def interface_id(self) -> str:
        """The scope matrix's id: `service:METHOD /template`."""
        return f"{self.service}:{self.method} {self.template}"

    @property
    def description(self) -> str:
        operation_id = get(self.node, "operationId")
        return f"{self.method} {self.template}" + (f" ({operation_id})" if operation_id else "")

    def success_statuses(self) -> list[str]:
        """The documented 2xx statuses (`200`, `2XX`), the default expectation of an example request."""
        return sorted(code for code in (self.node / "responses").str_keys() if code.upper().startswith("2"))


@dataclass
class Planned:
    """One concrete request to an operation."""

    label: str
    path_params: dict[str, str] = field(default_factory=dict)
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    content_type: str | None = None
    expect_status: int | None = None
    setup: Any = None  # an interlock.config.Action, run before the request

    def path(self, template: str) -> str:
        return re.sub(r"\{([^}]+)\}", lambda m: quote(self.path_params.get(m.group(1), m.group(0)), safe=""), template)


def operations(spec: SchemaPath, service: str) -> list[Operation]:
    """Every documented operation, in document order."""
    found = []
    for template, item in (spec / "paths").str_items() if "paths" in spec else []:
        shared = list(item / "parameters") if "parameters" in item else []
        for method in item.str_keys():
            if method not in HTTP_METHODS:
                continue
            node = item / method
            own = list(node / "parameters") if "parameters" in node else []
            merged = {(get(p, "name"), get(p, "in")): p for p in shared + own}
            found.append(Operation(service, method.upper(), template, node, tuple(merged.values())))
    return found


def schema_example(schema: SchemaPath, depth: int = 0) -> Any:
    """A schema's `example` (or 3.1 `examples[0]`, or `const`); else an object or array composed from its parts' examples."""
    if depth > MAX_DEPTH:
        return NONE
    if "example" in schema:
        return get(schema, "example")
    if "examples" in schema:
        values = get(schema, "examples")
        if isinstance(values, list) and values:
            return values[0]
    if "const" in schema:
        return get(schema, "const")
    if "allOf" in schema:
        parts = [schema_example(part, depth + 1) for part in schema / "allOf"]
        if parts and all(isinstance(part, dict) for part in parts):
            return {k: v for part in parts for k, v in part.items()}
    for key in ("oneOf", "anyOf"):
        if key in schema:
            for part in schema / key:
                value = schema_example(part, depth + 1)
                if value is not NONE:
                    return value
    if "properties" in schema:
        required = set(get(schema, "required") or [])
        composed = {}
        for name, prop in (schema / "properties").str_items():
            value = schema_example(prop, depth + 1)
            if value is NONE:
                if name in required:
                    return NONE
                continue
            composed[name] = value
        return composed or NONE
    if "items" in schema and get(schema, "type") in ("array", ["array"]):
        item = schema_example(schema / "items", depth + 1)
        return NONE if item is NONE else [item]
    return NONE


def example_of(node: SchemaPath) -> Any:
    """The example of a Parameter or Media Type Object: `example`, the first of `examples`, then its schema's."""
    if "example" in node:
        return get(node, "example")
    if "examples" in node:
        for _, example in (node / "examples").str_items():
            if "value" in example:
                return get(example, "value")
    if "schema" in node:
        return schema_example(node / "schema")
    if "content" in node:  # a parameter described by a media type
        for _, media in (node / "content").str_items():
            return example_of(media)
    return NONE


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _query_pairs(param: SchemaPath, value: Any) -> list[tuple[str, str]]:
    name = get(param, "name")
    explode = get(param, "explode", get(param, "style", "form") == "form")
    if isinstance(value, list):
        return [(name, _text(v)) for v in value] if explode else [(name, ",".join(_text(v) for v in value))]
    if isinstance(value, dict) and explode and "content" not in param:
        return [(str(k), _text(v)) for k, v in value.items()]
    return [(name, _text(value))]


def _media_types(content: SchemaPath) -> list[tuple[str, SchemaPath]]:
    """Media types, JSON first."""
    items = list(content.str_items())
    return sorted(items, key=lambda mt: 0 if re.search(r"[/+]json\b", mt[0]) else 1)


def encode_body(media_type: str, value: Any) -> bytes:
    if re.search(r"[/+]json\b", media_type):
        return json.dumps(value).encode()
    if media_type == "application/x-www-form-urlencoded" and isinstance(value, dict):
        return urlencode({k: _text(v) if not isinstance(v, list) else [_text(i) for i in v] for k, v in value.items()}, doseq=True).encode()
    if isinstance(value, bytes):
        return value
    return (value if isinstance(value, str) else json.dumps(value)).encode()


def _content_type(planned: Planned) -> None:
    """The body's media type as Content-Type, unless the fixture sets one itself."""
    if not any(k.lower() == "content-type" for k in planned.headers):
        planned.headers["Content-Type"] = planned.content_type or "application/json"


def plan(operation: Operation, fixtures: Iterable[Any] = ()) -> list[Planned]:
    """The requests that exercise `operation`: one per fixture, else one from the examples; raises Unexercised."""
    fixtures = list(fixtures)
    return [_plan_one(operation, f"fixture {n}" if len(fixtures) > 1 else "fixture", f) for n, f in enumerate(fixtures, 1)] if fixtures else [_plan_one(operation, "example", None)]


def _plan_one(operation: Operation, label: str, fixture: Any) -> Planned:
    planned = Planned(label, expect_status=getattr(fixture, "status", None), setup=getattr(fixture, "setup", None))
    given = {"path": dict(getattr(fixture, "path", {}) or {}), "query": dict(getattr(fixture, "query", {}) or {}),
             "header": {k.lower(): v for k, v in (getattr(fixture, "headers", {}) or {}).items()}}
    missing = []
    for param in operation.parameters:
        name, where = get(param, "name"), get(param, "in")
        if where == "header" and name.lower() in IGNORED_HEADERS:
            continue
        supplied = given.get(where, {})
        key = name.lower() if where == "header" else name
        value = supplied.pop(key) if key in supplied else example_of(param)
        if value is NONE:
            if get(param, "required", where == "path"):
                missing.append(f"{where} parameter {name!r}")
            continue
        if where == "path":
            planned.path_params[name] = ",".join(map(_text, value)) if isinstance(value, list) else _text(value)
        elif where == "query":
            planned.query += _query_pairs(param, value)
        elif where == "header":
            planned.headers[name] = ",".join(map(_text, value)) if isinstance(value, list) else _text(value)
        elif where == "cookie":
            planned.cookies[name] = _text(value)
    # Fixture values the document does not name are sent as given: a test of how the service treats them.
    planned.path_params.update({k: _text(v) for k, v in given["path"].items()})
    planned.query += [(k, _text(v)) for k, v in given["query"].items()]
    planned.headers.update({k: v for k, v in (getattr(fixture, "headers", {}) or {}).items() if k.lower() in given["header"]})
    if "requestBody" in operation.node:
        request_body = operation.node / "requestBody"
        media = _media_types(request_body / "content") if "content" in request_body else []
        body = getattr(fixture, "body", None)
        if body is not None and media:
            planned.content_type = media[0][0]
        elif body is None:
            for media_type, node in media:
                body = example_of(node)
                if body is not NONE:
                    planned.content_type = media_type
                    break
            else:
                body = NONE
        if planned.content_type and "*" in planned.content_type:  # a wildcard range is no Content-Type to send
            planned.content_type = "application/json"
        if body is NONE or body is None:
            if get(request_body, "required", False):
                missing.append("the request body")
        else:
            planned.content_type = planned.content_type or "application/json"
            planned.body = encode_body(planned.content_type, body)
            _content_type(planned)
    elif getattr(fixture, "body", None) is not None:
        planned.content_type = "application/json"
        planned.body = encode_body(planned.content_type, fixture.body)
        _content_type(planned)
    if missing:
        raise Unexercised(f"an example or a fixture value for {', '.join(missing)}")
    return planned
