"""Generate the typed models of interlock's JSON artifacts (src/interlock/models.py) from their JSON Schemas.

The schemas stay the one definition of an artifact's shape; the models are derived
from them, so the two cannot drift apart (tests/unit/test_models.py regenerates and
compares). Run `python scripts/gen_models.py` after changing a schema; `--check`
exits 1 when models.py is out of date.
"""

from __future__ import annotations

import json
import keyword
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "src/interlock/schemas"
MODELS = ROOT / "src/interlock/models.py"
BEGIN, END = "# BEGIN GENERATED (scripts/gen_models.py)", "# END GENERATED"
_SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "None", "array": "list[Any]", "object": "dict[str, Any]"}


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("-", "_").split("_") if part)


class _Generator:
    def __init__(self) -> None:
        self.classes: list[str] = []

    def type_of(self, schema: dict[str, Any], name: str) -> str:
        values = [schema["const"]] if "const" in schema else schema.get("enum")
        if values is not None:
            literal = f"Literal[{', '.join(repr(v) for v in values)}]"
            # Python takes True for 1, JSON Schema never does: a numeric literal refuses booleans.
            numeric = any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
            return f"Annotated[{literal}, NOT_BOOL]" if numeric else literal
        kinds = schema.get("type")
        if isinstance(kinds, list):
            return " | ".join(self.type_of({**schema, "type": kind}, name) for kind in kinds)
        if kinds == "object" and "properties" in schema:
            return self.typed_dict(schema, name)
        if kinds == "object" and isinstance(schema.get("additionalProperties"), dict):
            return f"dict[str, {self.type_of(schema['additionalProperties'], name + 'Entry')}]"
        if kinds == "array" and isinstance(schema.get("items"), dict):
            return f"list[{self.type_of(schema['items'], name + 'Item')}]"
        return _SCALARS.get(kinds, "Any") if isinstance(kinds, str) else "Any"

    def typed_dict(self, schema: dict[str, Any], name: str) -> str:
        required = set(schema.get("required", []))
        fields = []
        for key, sub in schema["properties"].items():
            annotation = self.type_of(sub, name + _camel(key))
            annotation = annotation if key in required else f"NotRequired[{annotation}]"
            fields.append((key, annotation))
        closed = schema.get("additionalProperties") is False
        body = [f"    {key}: {annotation}" for key, annotation in fields]
        doc = schema.get("description") or schema.get("title") or f"`{name}` of its artifact's schema."
        doc = doc.split(". ")[0].rstrip(".").replace('"', "'")
        if any(not key.isidentifier() or keyword.iskeyword(key) for key, _ in fields):  # `from`: TypedDict's functional form
            items = ", ".join(f"{key!r}: {annotation}" for key, annotation in fields)
            config = f"\nwith_config(ConfigDict(extra=\"forbid\"))({name})" if closed else ""
            self.classes.append(f"#: {doc}.\n{name} = TypedDict({name!r}, {{{items}}}){config}")
            return name
        config = "@with_config(ConfigDict(extra=\"forbid\"))\n" if closed else ""
        self.classes.append(f"{config}class {name}(TypedDict):\n    \"\"\"{doc}.\"\"\"\n\n" + ("\n".join(body) or "    pass"))
        return name


def generate() -> str:
    """The generated block: one TypedDict per object of every schema, the artifact's own model last, and the table of them."""
    gen = _Generator()
    table = []
    for path in sorted(SCHEMAS.glob("*.schema.json")):
        schema = json.loads(path.read_text("utf-8"))
        artifact = path.name.removesuffix(".schema.json")
        model = gen.typed_dict(schema, _camel(artifact))
        table.append(f"    {artifact!r}: {model},")
    lines = [BEGIN, "", *("\n\n".join(gen.classes).splitlines()), "", "",
             "#: Each JSON artifact's model, by its schema's name (`Artifact.schema_name`).",
             "BY_SCHEMA: dict[str, type] = {", *table, "}", END]
    return "\n".join(lines)


def render(current: str) -> str:
    """models.py with its generated block replaced."""
    head, _, rest = current.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return head + generate() + tail


def main(argv: list[str]) -> int:
    current = MODELS.read_text("utf-8")
    wanted = render(current)
    if "--check" in argv:
        if wanted != current:
            print(f"{MODELS.relative_to(ROOT)} is out of date with the schemas: run `python scripts/gen_models.py`")
            return 1
        return 0
    MODELS.write_text(wanted, "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
