"""Property-based tests: every loader of user input either loads it or says, in one line naming the file, what is wrong.

Hypothesis feeds the loaders arbitrary bytes and text, and mutations of valid
documents (the demo shop's config, pacts, OpenAPI, AsyncAPI, table specs and
baseline, and a defect log): a value of the wrong type at a random JSON path,
a key removed or added, deep nesting, numbers too large to convert, a byte
that is not UTF-8, a random splice of the text. The property is the contract
of `errors.py`: a loader returns, or raises `UsageError` whose problems each
are one line naming the file; nothing else ever escapes (an escaping exception
is what `interlock config check` would turn into an "internal error").

Examples are derandomized and no example database is kept, so CI sees the
same examples on every machine; sizes keep the module well under 30 s.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interlock import baseline, config, defects
from interlock.contracts.asyncapi import load_asyncapi
from interlock.contracts.openapi import load as load_openapi
from interlock.contracts.schema import load_spec
from interlock.documents import load_document, load_pact
from interlock.errors import UsageError
from interlock.inputs import document_problems

REPO = Path(__file__).resolve().parents[2]
SHOP = REPO / "examples" / "shop"
CORPUS_SYSTEM = REPO / "tests" / "corpus" / "system"
CORPUS_VALID = REPO / "tests" / "corpus" / "valid"


SCALE = int(os.environ.get("INTERLOCK_PROPERTY_SCALE", "1"))
"""More examples for a deeper search (e.g. 20 in a nightly job); 1 keeps the module under 30 s."""


def loaders(examples: int) -> settings:
    """Deterministic settings for a loader property: `examples` examples, no deadline, no example database."""
    return settings(max_examples=examples * SCALE, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --- checking the property ------------------------------------------------------------------


def assert_clean(call: Callable[[], object], path: Path) -> None:
    """`call` returns, or raises UsageError whose every problem is one line naming `path`."""
    try:
        call()
    except UsageError as exc:
        assert exc.problems, "a UsageError without a problem"
        for problem in exc.problems:
            assert_one_line(str(problem), path)


def loads_cleanly(name: str, data: bytes, load: Callable[[Path], object]) -> None:
    """`data` saved as `name` in a fresh folder loads, or fails as `assert_clean` allows."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        assert_clean(lambda: load(path), path)


def assert_one_line(text: str, path: Path) -> None:
    assert len(text.splitlines()) == 1, f"not one line: {text!r}"
    assert path.name in text, f"does not name {path.name}: {text!r}"


@dataclass(frozen=True)
class Raw:
    """Text placed verbatim where a value goes: what no serializer writes (deep nesting, huge numbers)."""

    text: str


RAW = re.compile(r"""['"]?@@RAW(\d+)@@['"]?""")


def _placeholders(node: Any, raws: list[str]) -> Any:
    if isinstance(node, Raw):
        raws.append(node.text)
        return f"@@RAW{len(raws) - 1}@@"
    if isinstance(node, dict):
        return {_placeholders(k, raws): _placeholders(v, raws) for k, v in node.items()}
    if isinstance(node, list):
        return [_placeholders(v, raws) for v in node]
    return node


def to_json(doc: Any) -> str:
    raws: list[str] = []
    text = json.dumps(_placeholders(doc, raws), ensure_ascii=False, default=str)
    return RAW.sub(lambda m: raws[int(m.group(1))], text)


def to_yaml(doc: Any) -> str:
    raws: list[str] = []
    text = yaml.safe_dump(_placeholders(doc, raws), allow_unicode=True, default_flow_style=None, sort_keys=False, width=1 << 30)
    return RAW.sub(lambda m: raws[int(m.group(1))], text)


def _toml_key(key: Any) -> str:
    return _toml_string(str(key))


def _toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if value != value else ("inf" if value > 0 else "-inf") if value in (float("inf"), float("-inf")) else repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None) + "}"
    return _toml_string(str(value))


def to_toml(doc: Any) -> str:
    """A TOML text of `doc`: nested tables as [headers] (so key lines matter), the rest inline; None is left out."""
    if not isinstance(doc, dict):
        return f"value = {_toml_value(doc)}\n"
    lines: list[str] = []

    def table(prefix: tuple[Any, ...], node: dict[Any, Any]) -> None:
        scalars = [(k, v) for k, v in node.items() if not isinstance(v, dict) and v is not None]
        tables = [(k, v) for k, v in node.items() if isinstance(v, dict)]
        if prefix and (scalars or not tables):
            lines.append("[" + ".".join(_toml_key(p) for p in prefix) + "]")
        lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in scalars)
        for key, value in tables:
            table((*prefix, key), value)

    table((), doc)
    return "\n".join(lines) + "\n"


# --- strategies ---------------------------------------------------------------------------------

TEXT = st.text(max_size=20)
KEYS = st.text(max_size=12) | st.sampled_from(["$ref", "type", "name", "url", "version", "description", "tables", "columns", "payload"])
YAML_KEYS = KEYS | st.integers(-5, 600) | st.booleans() | st.none() | st.floats(allow_nan=False)
SCALARS = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | TEXT
HUGE = st.sampled_from(["9" * 5000, "-" + "9" * 4400, "1e99999", "-1e400", "0." + "1" * 5000])
DEEP = st.integers(101, 600).map(lambda n: "[" * n + "]" * n) | st.integers(101, 600).map(lambda n: '{"a": ' * n + "1" + "}" * n)


def values(keys: st.SearchStrategy[Any] = KEYS) -> st.SearchStrategy[Any]:
    """JSON-like values, and the raw ones serializers refuse to write."""
    plain = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4), max_leaves=12)
    return plain | HUGE.map(Raw) | DEEP.map(Raw)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


@st.composite
def mutated(draw: st.DrawFn, doc: Any, keys: st.SearchStrategy[Any] = KEYS) -> Any:
    """`doc` with one to three mutations at random paths: wrong type, key removed, unknown key, emptied."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_paths(doc))))
        operation = draw(st.sampled_from(["replace", "delete", "unknown", "empty"]))
        if not path:
            doc = draw(values(keys)) if operation == "replace" else {} if operation == "empty" else doc
            continue
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        if isinstance(parent, Raw):
            continue
        key = path[-1]
        if operation == "delete":
            del parent[key]
        elif operation == "unknown" and isinstance(parent[key], dict):
            parent[key][draw(keys)] = draw(values(keys))
        elif operation == "empty":
            parent[key] = type(parent[key])() if isinstance(parent[key], (dict, list, str)) else None
        else:
            parent[key] = draw(values(keys))
    return doc


@st.composite
def spliced(draw: st.DrawFn, text: str) -> bytes:
    """`text` with a random slice replaced by random text, or cut short, or with a byte that is not UTF-8."""
    data = text.encode("utf-8")
    start = draw(st.integers(0, len(data)))
    end = draw(st.integers(start, min(len(data), start + 40)))
    kind = draw(st.sampled_from(["splice", "truncate", "not-utf8", "utf16"]))
    if kind == "truncate":
        return data[:start]
    if kind == "not-utf8":
        return data[:start] + draw(st.sampled_from([b"\xff", b"\xc3", b"\x80\x80", b"\xed\xa0\x80"])) + data[end:]
    if kind == "utf16":
        return text.encode("utf-16")
    return data[:start] + draw(st.text(max_size=10)).encode("utf-8") + data[end:]


def document(doc: Any, serialize: Callable[[Any], str], keys: st.SearchStrategy[Any] = KEYS) -> st.SearchStrategy[bytes]:
    """Bytes of a broken document: a structural mutation serialized, a textual splice, or anything at all."""
    structural = mutated(doc, keys).map(lambda d: serialize(d).encode("utf-8"))
    return structural | spliced(serialize(doc)) | st.binary(max_size=200)


def _read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text("utf-8"))


CONFIG_TEXT = (SHOP / "interlock.toml").read_text("utf-8")
CONFIG = tomllib.loads(CONFIG_TEXT)
PACT = json.loads((SHOP / "contracts/pacts/web-orders.json").read_text("utf-8"))
MESSAGE_PACT = json.loads((SHOP / "contracts/pacts/shipping-orders.json").read_text("utf-8"))
OPENAPI = _read_yaml(SHOP / "contracts/openapi/catalog.yaml")
ASYNCAPI = _read_yaml(SHOP / "contracts/asyncapi/orders-events.yaml")
PING_PONG = _read_yaml(CORPUS_VALID / "asyncapi-3-request-reply-same-address/docs/events.yaml")
AVRO_3 = _read_yaml(CORPUS_VALID / "asyncapi-3-avro-payload-remote-ref/docs/events.yaml")
AVRO_2 = _read_yaml(CORPUS_VALID / "asyncapi-2-avro-payload-remote-ref/docs/events.yaml")
OPENAPI_LINK = _read_yaml(CORPUS_VALID / "openapi-31-link-server/docs/api.yaml")
SPEC = _read_yaml(SHOP / "contracts/schema/orders.yaml")
BASELINE = tomllib.loads((SHOP / "env/baseline.toml").read_text("utf-8"))
JSON_SCHEMA = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "required": ["id"],
               "properties": {"id": {"type": "integer", "minimum": 1}, "sku": {"type": "string", "pattern": "^[A-Z]+-\\d+$"},
                              "tags": {"type": "array", "items": {"$ref": "#/definitions/tag"}}},
               "definitions": {"tag": {"type": "string", "maxLength": 20}}}
SCHEMA_KEYWORDS = st.sampled_from(["type", "properties", "items", "required", "$ref", "enum", "pattern", "minimum", "oneOf", "allOf",
                                   "additionalProperties", "format", "definitions", "$id", "const", "maxLength"])


# --- the config ------------------------------------------------------------------------------


@loaders(120)
@given(data=document(CONFIG, to_toml))
def test_config_loader_never_crashes(data: bytes) -> None:
    loads_cleanly("interlock.toml", data, config.load)


@loaders(30)
@given(data=document(CONFIG, to_toml))
def test_pyproject_section_never_crashes(data: bytes) -> None:
    """`[tool.interlock]` in pyproject.toml goes through the same parser, from a different table."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pyproject.toml"
        text = data.decode("utf-8", errors="replace")
        path.write_text(re.sub(r"^\[", "[tool.interlock.", text, flags=re.MULTILINE), "utf-8")
        assert_clean(lambda: config.load(path), path)


# --- documents -------------------------------------------------------------------------------


@loaders(80)
@given(suffix=st.sampled_from([".json", ".yaml", ".yml", ".toml", ".txt", ""]), data=st.binary(max_size=300) | st.text(max_size=200).map(str.encode) | DEEP.map(str.encode) | HUGE.map(str.encode))
def test_load_document_never_crashes(suffix: str, data: bytes) -> None:
    loads_cleanly(f"doc{suffix}", data, load_document)


LIMITS = {
    "deep.json": ("[" * 5000 + "]" * 5000, "nested too deeply"),
    "deep.toml": ("a = " + "[" * 5000 + "]" * 5000, "nested too deeply"),
    "deep.yaml": ("{a: " * 150 + "1" + "}" * 150, "nested more than 100 levels deep"),
    "digits.json": ("9" * 5000, "more than 4300 digits"),
    "digits.yaml": ("a: " + "9" * 5000, "more than 4300 digits"),
    "date.yaml": ("a: 2026-02-30", "day is out of range"),
    "loop.yaml": ("a: &a [*a]", "contains itself"),
    "laughs.yaml": "a: &a [1,1,1,1,1,1,1,1,1,1]\n" + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(8)),
}


def test_documents_past_the_parsers_limits_are_one_line() -> None:
    """What hypothesis found first, kept as plain examples: each is a UsageError naming the file, never a crash."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, case in LIMITS.items():
            text, expected = case if isinstance(case, tuple) else (case, "expands to more than")
            path = Path(tmp) / name
            path.write_text(text, "utf-8")
            try:
                load_document(path)
            except UsageError as exc:
                assert_one_line(str(exc), path)
                assert expected in str(exc), (name, str(exc))
            else:
                raise AssertionError(f"{name} loaded")


@loaders(120)
@given(data=document(PACT, to_json) | document(MESSAGE_PACT, to_json))
def test_pact_loader_never_crashes(data: bytes) -> None:
    loads_cleanly("web-orders.json", data, load_pact)


@loaders(100)
@given(data=document(OPENAPI, to_yaml, YAML_KEYS) | document(OPENAPI_LINK, to_yaml, YAML_KEYS))
def test_openapi_loader_never_crashes(data: bytes) -> None:
    """The OpenAPI loader reports a bad document as `error`, one line naming the file; it raises nothing."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "catalog.yaml"
        path.write_bytes(data)
        doc = load_openapi("catalog", "catalog.yaml", Path(tmp))
        if doc.error is not None:
            assert_one_line(doc.error, path)


@loaders(120)
@given(data=document(ASYNCAPI, to_yaml, YAML_KEYS) | document(PING_PONG, to_yaml, YAML_KEYS) | document(AVRO_3, to_yaml, YAML_KEYS) | document(AVRO_2, to_yaml, YAML_KEYS))
def test_asyncapi_loader_never_crashes(data: bytes) -> None:
    loads_cleanly("orders-events.yaml", data, load_asyncapi)


FOREIGN_FORMATS = st.sampled_from(["application/vnd.apache.avro;version=1.9.0", "application/vnd.apache.avro+json;version=1.9.0", "application/vnd.apache.avro+yaml;version=1.9.0",
                                   "application/vnd.google.protobuf;version=3", "application/raml+yaml;version=1.0"])
REMOTE_REFS = st.sampled_from(["https://schemas.example.invalid/user.avsc", "http://127.0.0.1:9/x.proto#/A", "ftp://x/y", "#/nowhere", "missing.avsc", "urn:avro:user"])
FOREIGN_SCHEMA = st.recursive(SCALARS | REMOTE_REFS.map(lambda r: {"$ref": r}),
                              lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS | st.just("$ref"), inner | REMOTE_REFS, max_size=4), max_leaves=10)
"""What an Avro, Protobuf or RAML schema may hold, to interlock: anything, references of every kind included."""


@loaders(80)
@given(fmt=FOREIGN_FORMATS, schema=FOREIGN_SCHEMA, major=st.sampled_from([2, 3]))
def test_payloads_of_other_schema_formats_are_never_read(fmt: str, schema: Any, major: int) -> None:
    """Whatever a non-JSON-Schema payload holds (remote or dangling refs, any shape), the document loads and lists it as not validated."""
    if major == 3:
        doc = copy.deepcopy(AVRO_3)
        doc["components"]["messages"]["userSignedUp"]["payload"] = {"schemaFormat": fmt, "schema": schema}
    else:
        doc = copy.deepcopy(AVRO_2)
        doc["channels"]["user.signedup"]["subscribe"]["message"] |= {"schemaFormat": fmt, "payload": schema}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.json"
        path.write_text(to_json(doc), "utf-8")
        [channel] = load_asyncapi(path).channels
    assert [(p["section"], p["schema_format"]) for m in channel.messages for p in m.not_validated()] == [("payload", fmt)]


CHANNEL_IDS = st.from_regex(r"[A-Za-z][A-Za-z0-9_.-]{0,11}", fullmatch=True)
ADDRESSES = st.none() | st.sampled_from(["/", "orders", "user/{id}/events", ""]) | st.text(max_size=10)


@loaders(80)
@given(channels=st.dictionaries(CHANNEL_IDS, ADDRESSES, min_size=1, max_size=6), reply=st.booleans())
def test_asyncapi_3_channels_are_their_ids_whatever_their_addresses(channels: dict[str, str | None], reply: bool) -> None:
    """Ids are unique, addresses may repeat or be null: one channel per id, each with its own address, in document order."""
    ids = list(channels)
    doc: dict[str, Any] = {"asyncapi": "3.0.0", "info": {"title": "t", "version": "1"},
                           "channels": {i: {"address": a, "messages": {"m": {"payload": {"type": "object"}}}} for i, a in channels.items()},
                           "operations": {"op": {"action": "receive", "channel": {"$ref": f"#/channels/{ids[0]}"}}}}
    if reply:
        doc["operations"]["op"]["reply"] = {"channel": {"$ref": f"#/channels/{ids[-1]}"}, "messages": [{"$ref": f"#/channels/{ids[-1]}/messages/m"}]}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.json"
        path.write_text(to_json(doc), "utf-8")
        found = load_asyncapi(path)
    assert [(c.id, c.address) for c in found.channels] == list(channels.items())
    if reply:
        assert found.channels[-1].operation == "send"
    addresses = [a for a in channels.values() if a is not None]
    assert found.shared_addresses == {a for a in addresses if addresses.count(a) > 1}


SEGMENTS = st.lists(st.from_regex(r"[a-z]{1,6}", fullmatch=True), min_size=1, max_size=3, unique=True)


@loaders(60)
@given(names=SEGMENTS, declared=st.data(), version=st.sampled_from(["3.0.3", "3.1.0"]), method=st.sampled_from(["get", "post", "delete"]))
def test_openapi_path_parameters_pass_exactly_when_declared(names: list[str], declared: st.DataObject, version: str, method: str) -> None:
    """A path template's parameters must each be declared (in: path): the document passes exactly then, else the refusal names operation and path."""
    kept = declared.draw(st.lists(st.sampled_from(names), unique=True))
    template = "/" + "/".join(f"items/{{{n}}}" for n in names)
    parameters = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in kept]
    doc = {"openapi": version, "info": {"title": "t", "version": "1"},
           "paths": {template: {method: {"parameters": parameters, "responses": {"200": {"description": "ok"}}}}}}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "api.yaml").write_text(to_yaml(doc), "utf-8")
        found = load_openapi("api", "api.yaml", Path(tmp))
    if set(kept) == set(names):
        assert found.problem is None, found.error
    else:
        assert found.problem is not None and f"{method.upper()} {template} uses path parameter" in found.problem.message, found.error
        assert found.error is not None and found.error.count("api.yaml") == 1


SCHEMA_LIKE = st.recursive(
    SCALARS | SCHEMA_KEYWORDS | st.sampled_from(["#/components/schemas/x", "#", "other.yaml#/a", "(", "[a-"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(SCHEMA_KEYWORDS | KEYS, inner, max_size=4),
    max_leaves=10,
)
"""A JSON Schema built from real keywords with values of any type: plausible, often wrong."""


@loaders(100)
@given(schema=mutated(JSON_SCHEMA) | SCHEMA_LIKE, fmt=st.sampled_from([None, "application/schema+json;version=draft-07", "application/schema+yaml;version=2020-12",
                                                                        "application/schema+json;version=draft-99", "application/vnd.aai.asyncapi;version=2.6.0", 7]))
def test_json_schema_in_asyncapi_never_crashes(schema: Any, fmt: Any) -> None:
    """JSON Schema documents reach interlock as AsyncAPI payload schemas: a broken one is one line with its JSON path."""
    message: dict[str, Any] = {"payload": schema}
    if fmt is not None:
        message["schemaFormat"] = fmt
    doc = {"asyncapi": "2.6.0", "info": {"title": "t", "version": "1"}, "channels": {"thing.created": {"subscribe": {"message": message}}},
           "components": {"schemas": {"x": schema}}}
    loads_cleanly("events.json", to_json(doc).encode("utf-8"), load_asyncapi)


@loaders(100)
@given(data=document(SPEC, to_yaml, YAML_KEYS))
def test_table_spec_loader_never_crashes(data: bytes) -> None:
    loads_cleanly("orders.yaml", data, load_spec)


# --- config check: every document the config names ------------------------------------------

CHECKED = {
    "pacts/web-api.json": to_json,
    "docs/api.yaml": to_yaml,
    "docs/events.yaml": to_yaml,
    "schema/api.yaml": to_yaml,
}


@st.composite
def broken_system_document(draw: st.DrawFn) -> tuple[str, bytes]:
    relative = draw(st.sampled_from(sorted(CHECKED)))
    original = (CORPUS_SYSTEM / relative).read_text("utf-8")
    parsed = json.loads(original) if relative.endswith(".json") else yaml.safe_load(original)
    return relative, draw(document(parsed, CHECKED[relative], KEYS if relative.endswith(".json") else YAML_KEYS))


@loaders(60)
@given(case=broken_system_document())
def test_config_check_documents_never_crash(case: tuple[str, bytes]) -> None:
    """`interlock config check` (inputs.document_problems) reports each broken document as lines naming it."""
    relative, data = case
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "system"
        shutil.copytree(CORPUS_SYSTEM, root)
        (root / relative).write_bytes(data)
        loaded = config.load(root / "interlock.toml")
        for problem in document_problems(loaded):
            assert_one_line(str(problem), Path(relative))


# --- the defect log ----------------------------------------------------------------------------


def _defect_rows() -> list[dict[str, str]]:
    first = {c: "" for c in defects.COLUMNS} | {"id": "DEF-0a1b2c3d", "fingerprint": "0a1b2c3d4e5f6a7b", "source": "test", "title": "checkout fails",
                                               "severity": "critical", "owner": "team-orders", "status": "open", "occurrences": "1"}
    second = dict(first, id="DEF-11111111", fingerprint="1111111122223333", severity="low", status="waived", waiver_approver="QA",
                  waiver_reason="known, flaky, \"quoted\"", waiver_expires="2030-01-01T00:00:00Z")
    return [first, second]


def _csv(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


DEFECT_LOG = _csv(defects.COLUMNS, [[r[c] for c in defects.COLUMNS] for r in _defect_rows()])


@st.composite
def broken_defect_log(draw: st.DrawFn) -> bytes:
    """A human edit gone wrong: a cell changed, a column dropped or added, or the text spliced."""
    header = list(defects.COLUMNS)
    rows = [[r[c] for c in defects.COLUMNS] for r in _defect_rows()]
    edit = draw(st.sampled_from(["cell", "drop-column", "extra-cell", "header", "splice"]))
    cell = st.text(max_size=12) | st.sampled_from(["critical", "open", "", ",", '"', "\x00", "\r", "a\nb"])
    if edit == "splice":
        return draw(spliced(DEFECT_LOG))
    if edit == "cell":
        row = draw(st.sampled_from(rows))
        row[draw(st.integers(0, len(header) - 1))] = draw(cell)
    elif edit == "drop-column":
        index = draw(st.integers(0, len(header) - 1))
        header.pop(index)
        for row in rows:
            row.pop(index)
    elif edit == "extra-cell":
        draw(st.sampled_from(rows)).append(draw(cell))
    else:
        header[draw(st.integers(0, len(header) - 1))] = draw(cell)
    return _csv(header, rows).encode("utf-8")


@loaders(120)
@given(data=broken_defect_log() | st.binary(max_size=200))
def test_defect_log_reader_never_crashes(data: bytes) -> None:
    loads_cleanly("defect-log.csv", data, defects.read_log)


# --- the environment baseline ------------------------------------------------------------------

BASELINE_FORMATS: dict[str, Callable[[Any], str]] = {"baseline.toml": to_toml, "baseline.yaml": to_yaml, "baseline.json": to_json}


def _baseline_loaded(root: Path, name: str) -> config.Loaded:
    text = (CORPUS_SYSTEM / "interlock.toml").read_text("utf-8").replace('path = "docs/baseline.toml"', f'path = "{name}"')
    (root / "interlock.toml").write_text(text, "utf-8")
    return config.load(root / "interlock.toml")


@st.composite
def broken_baseline(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from([*BASELINE_FORMATS, ".env"]))
    if name == ".env":
        lines = st.lists(st.text(max_size=20) | st.sampled_from(["export A=1", "B='x", 'C="y"', "=1", "version=2", "D=a #c"]), max_size=6)
        return name, "\n".join(draw(lines)).encode("utf-8", errors="surrogatepass")
    keys = YAML_KEYS if name.endswith(".yaml") else KEYS
    return name, draw(document(BASELINE, BASELINE_FORMATS[name], keys))


@loaders(120)
@given(case=broken_baseline())
def test_baseline_loader_never_crashes(case: tuple[str, bytes]) -> None:
    name, data = case
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        loaded = _baseline_loaded(root, name)
        (root / name).write_bytes(data)
        assert_clean(lambda: baseline.load(loaded), root / name)


# --- the CLI -------------------------------------------------------------------------------------


SYSTEM_CONFIG_TEXT = (CORPUS_SYSTEM / "interlock.toml").read_text("utf-8")


@settings(max_examples=4, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated(tomllib.loads(SYSTEM_CONFIG_TEXT)).map(lambda d: to_toml(d).encode("utf-8")) | spliced(SYSTEM_CONFIG_TEXT))
def test_config_check_cli_is_one_line_exit_2(data: bytes) -> None:
    """End to end on the corpus system: a broken config is exit 2 and one line per problem, never a traceback."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "system"
        shutil.copytree(CORPUS_SYSTEM, root)
        (root / "interlock.toml").write_bytes(data)
        done = subprocess.run([sys.executable, "-m", "interlock", "config", "check"], cwd=root, capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)
    assert "Traceback" not in done.stderr + done.stdout
    assert "internal error" not in done.stderr
    if done.returncode == 0:
        return  # a mutation that left the config valid
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert lines
    for line in lines:
        assert line.startswith("interlock: error: "), line
