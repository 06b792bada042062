"""The reference of `interlock.toml`, generated from the config models: a JSON Schema and `docs/config.md`.

One source (the pydantic models of `config.py` and `policy.py`, each field with a
description and an example) gives both, so the reference cannot say what the
loader does not read: `interlock config schema` prints the schema, TOML editors
read it through the `#:schema` line `interlock init` writes, and
`scripts/gen_config_docs.py` writes the Markdown (`--check` fails when stale).
"""

from __future__ import annotations

import json
from importlib import resources
from collections import Counter
from typing import Any

from pydantic import BaseModel

from interlock.config import Config

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
#: Where `interlock init` writes the schema, beside interlock.toml, and what its `#:schema` line names.
SCHEMA_FILE = "interlock.schema.json"
#: The command that regenerates docs/config.md (said by the staleness test and by `--check`).
REGENERATE = "python scripts/gen_config_docs.py"


#: The input documents' schemas (`interlock schema NAME`), in `interlock/schemas/inputs/`; docs/inputs.md describes them.
DOCUMENTS = ("feature-list", "environment-baseline", "contracts-version")
CONFIG_SCHEMA_NAME = "interlock.toml"


def document_names() -> list[str]:
    """The names of the config's and the input documents' schemas, as `interlock schema` lists them."""
    return [CONFIG_SCHEMA_NAME, *DOCUMENTS]


def document_schema(name: str) -> dict[str, Any] | None:
    """The JSON Schema of interlock.toml or of an input document, None for another name."""
    if name == CONFIG_SCHEMA_NAME:
        return config_schema()
    if name.removesuffix(".json") not in DOCUMENTS:
        return None
    text = resources.files("interlock.schemas").joinpath("inputs").joinpath(f"{name.removesuffix('.json')}.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def config_schema(model: type[BaseModel] = Config) -> dict[str, Any]:
    """The JSON Schema of interlock.toml (or of another root `model`): every key with its type, default, description and an example."""
    schema = model.model_json_schema(by_alias=True)
    contracts_default = schema.get("properties", {}).get("contracts", {}).get("default")
    if isinstance(contracts_default, dict):
        contracts_default.pop("pact_exclude", None)  # internal: written `[contracts.pact] exclude`, shown there
    return {"$schema": SCHEMA_DIALECT, "title": "interlock.toml",
            "description": "interlock's configuration: what the system is, where it runs, how its integration is validated",
            **{k: v for k, v in schema.items() if k != "title"}}


def schema_text() -> str:
    """The schema as the bytes `config schema` prints and `init` writes (stable: sorted keys, one trailing newline)."""
    return json.dumps(config_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _toml(value: Any) -> str:
    """A value as it is written in TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(str(k))} = {_toml(v)}" for k, v in value.items()) + " }"
    return "(not set)" if value is None else json.dumps(value)


def _key(name: str) -> str:
    return name if name.replace("_", "").replace("-", "").isalnum() else json.dumps(name)


def _ref(node: dict[str, Any]) -> str | None:
    ref = node.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def _branches(node: dict[str, Any]) -> list[dict[str, Any]]:
    """The alternatives of a node, without `null` (which only says the key may be left out)."""
    options = node.get("anyOf") or node.get("oneOf") or [node]
    return [o for o in options if o.get("type") != "null"]


class _Writer:
    """Renders the schema as Markdown: one section per table, shared tables once."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.defs: dict[str, dict[str, Any]] = schema.get("$defs", {})
        self.uses = Counter(_ref(n) for d in [schema, *self.defs.values()] for n in _nodes(d) if _ref(n))
        self.shared = sorted(name for name, count in self.uses.items() if name and count > 1)
        self.out: list[str] = []

    def type_of(self, node: dict[str, Any]) -> str:
        names = [self._one(b) for b in _branches(node)]
        return " or ".join(dict.fromkeys(names)) or "any value"

    def _one(self, node: dict[str, Any]) -> str:
        if (ref := _ref(node)) is not None:
            return f"[{ref} table](#{ref.lower()})" if ref in self.shared else "table (below)"
        if "enum" in node:
            return "one of " + ", ".join(_toml(v) for v in node["enum"])
        if "const" in node:
            return _toml(node["const"])
        kind = node.get("type")
        if kind == "array":
            return f"array of {self.type_of(node.get('items', {}))}"
        if kind == "object":
            extra = node.get("additionalProperties")
            return f"table of name → {self.type_of(extra)}" if isinstance(extra, dict) else "table"
        words = {"string": "string", "integer": "integer", "number": "float", "boolean": "boolean"}
        text = words.get(str(kind), "any value")
        if node.get("format") == "date-time":
            text = "date-time"
        bounds = [f"{op} {node[k]}" for k, op in (("exclusiveMinimum", ">"), ("minimum", "≥"), ("minItems", "items ≥")) if k in node]
        if "pattern" in node:
            bounds.append(f"matching `{node['pattern']}`")
        return text + (f" ({', '.join(bounds)})" if bounds else "")

    def section(self, path: str, model: str, depth: int, *, array: bool = False, shared: bool = False) -> None:
        """A table's section (`[path]`, `[[path]]` for an array of tables, or a shared table's name), then its inner tables."""
        definition = self.defs[model]
        heading = f"{path} table" if shared else f"[[{path}]]" if array else f"[{path}]"
        self.out += [f"{'#' * depth} `{heading}`" if not shared else f"{'#' * depth} {heading}", ""]
        if definition.get("description"):
            self.out += [" ".join(str(definition["description"]).split()), ""]
        self.table(definition)
        self.inner(f"<{path.lower()}>" if shared else path, definition, min(depth + 1, 4))

    def inner(self, path: str, definition: dict[str, Any], depth: int) -> None:
        """The sections of the tables inside a table's keys (shared tables are linked, not repeated)."""
        for name, node in definition.get("properties", {}).items():
            for child, suffix in self._children(node):
                if child not in self.shared:
                    inner = ".".join(p for p in (path, _key(name)) if p) + suffix.removesuffix("[]")
                    self.section(inner, child, depth, array=suffix.endswith("[]"))

    def _children(self, node: dict[str, Any]) -> list[tuple[str, str]]:
        """Tables inside a key: a table (""), each entry of a named table (".NAME"), or an array of tables ("[]")."""
        found: list[tuple[str, str]] = []
        for branch in _branches(node):
            if (ref := _ref(branch)) is not None:
                found.append((ref, ""))
            elif branch.get("type") == "object" and isinstance(branch.get("additionalProperties"), dict):
                found += [(r, ".NAME" + s) for r, s in self._children(branch["additionalProperties"])]
            elif branch.get("type") == "array" and isinstance(branch.get("items"), dict):
                found += [(r, s + "[]") for r, s in self._children(branch["items"]) if not s.endswith("[]")]
        return list(dict.fromkeys(found))

    def table(self, definition: dict[str, Any]) -> None:
        required = set(definition.get("required", []))
        self.out += ["| key | type | default | description | example |", "| --- | --- | --- | --- | --- |"]
        for name, node in definition.get("properties", {}).items():
            default = ("**required**" if name in required
                       else "each key's own default" if any(_ref(b) for b in _branches(node)) and isinstance(node.get("default"), dict)
                       else f"`{_toml(node.get('default'))}`")
            example = "; ".join(f"`{_toml(e)}`" for e in node.get("examples", []))
            description = " ".join(str(node.get("description", "")).split())
            cells = [f"`{_key(name)}`", self.type_of(node), default, description, example]
            self.out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        self.out.append("")


def _nodes(node: Any) -> list[dict[str, Any]]:
    """Every schema node inside `node` (but not inside other definitions)."""
    if isinstance(node, list):
        return [n for item in node for n in _nodes(item)]
    if not isinstance(node, dict):
        return []
    return [node, *(n for k, v in node.items() if k != "$defs" for n in _nodes(v))]


def markdown(schema: dict[str, Any] | None = None) -> str:
    """docs/config.md: every table and key of interlock.toml, generated from the models (or from `schema`)."""
    schema = schema or config_schema()
    writer = _Writer(schema)
    writer.out += [
        "# interlock.toml reference", "",
        f"<!-- Generated from the config models by `{REGENERATE}`; do not edit by hand. -->", "",
        "Every key interlock reads, with its type, default, description and an example. The same reference is "
        "a JSON Schema: `interlock config schema` prints it, and `interlock init` writes it beside the config as "
        f"`{SCHEMA_FILE}` with a `#:schema` line that TOML editors (taplo, Even Better TOML) read. "
        "`interlock config check` reports every problem of a config with its file, line and key. "
        "The documents the config points at (feature list, environment baseline, contracts VERSION) "
        "are described in [inputs.md](inputs.md).", "",
        "In the headings, `NAME` is a name you choose (a service, an environment, a state); "
        "`[[...]]` is an array of tables.", "",
        "## Top level", "",
    ]
    writer.table(schema)
    writer.inner("", schema, 2)
    if writer.shared:
        writer.out += ["## Tables used in several places", ""]
        for name in writer.shared:
            writer.out += [f'<a id="{name.lower()}"></a>', ""]
            writer.section(name, name, 3, shared=True)
    return "\n".join(writer.out).rstrip() + "\n"
