"""A compiled yes/no check for the plain JSON Schema subset of interlock's report schemas.

jsonschema checks a 2,000-test pytest report in about a second (it walks every
keyword of every test through its generic machinery); the same schema compiled
into nested closures answers in milliseconds. The check only says valid or not:
callers ask jsonschema for the messages when it says no, so error reports are
unchanged. A schema with any keyword outside `SUPPORTED` does not compile
(`compile_schema` returns None) and callers fall back to jsonschema entirely,
so a schema edit can never make the fast path laxer than the real validator.
"""

from __future__ import annotations

import re
from typing import Any, Callable

Check = Callable[[Any], bool]
SUPPORTED = frozenset({"type", "properties", "required", "items", "enum", "minimum", "additionalProperties", "pattern",
                       "title", "description", "$schema"})


class _Unsupported(Exception):
    pass


def _is_integer(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, float) and value.is_integer())


_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": _is_integer,
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def compile_schema(schema: Any) -> Check | None:
    """A function telling whether an instance is valid, or None when the schema uses more than `SUPPORTED`."""
    try:
        return _compile(schema)
    except _Unsupported:
        return None


def _compile(schema: Any) -> Check:
    if schema is True or schema == {}:
        return lambda value: True
    if schema is False:
        return lambda value: False
    if not isinstance(schema, dict) or not set(schema) <= SUPPORTED:
        raise _Unsupported
    checks: list[Check] = []
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not all(isinstance(n, str) and n in _TYPES for n in names):
            raise _Unsupported
        kinds = [_TYPES[n] for n in names]
        checks.append(kinds[0] if len(kinds) == 1 else (lambda value: any(kind(value) for kind in kinds)))
    if "enum" in schema:
        options = schema["enum"]
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            raise _Unsupported  # only string enums: no 1 == True == 1.0 subtleties
        allowed = frozenset(options)
        checks.append(lambda value: isinstance(value, str) and value in allowed)
    if "minimum" in schema:
        low = schema["minimum"]
        checks.append(lambda value: not _TYPES["number"](value) or value >= low)
    if "pattern" in schema:
        regex = re.compile(schema["pattern"])
        checks.append(lambda value: not isinstance(value, str) or regex.search(value) is not None)
    if "items" in schema:
        if not isinstance(schema["items"], (dict, bool)):
            raise _Unsupported
        item = _compile(schema["items"])
        checks.append(lambda value: not isinstance(value, list) or all(item(v) for v in value))
    object_checks = _object(schema)
    if object_checks is not None:
        checks.append(object_checks)
    if len(checks) == 1:
        return checks[0]
    return lambda value: all(check(value) for check in checks)


def _object(schema: dict[str, Any]) -> Check | None:
    required = schema.get("required", [])
    properties = {name: _compile(sub) for name, sub in schema.get("properties", {}).items()}
    extra = schema.get("additionalProperties", True)
    if not isinstance(required, list) or not isinstance(extra, (bool, dict)):
        raise _Unsupported
    others = None if extra is True else _compile(extra)
    if not required and not properties and others is None:
        return None

    def check(value: Any) -> bool:
        if not isinstance(value, dict):
            return True
        for name in required:
            if name not in value:
                return False
        for name, item in value.items():
            sub = properties.get(name)
            if sub is not None:
                if not sub(item):
                    return False
            elif others is not None and not others(item):
                return False
        return True

    return check
