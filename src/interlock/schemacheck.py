"""Checking data against a JSON Schema: jsonschema-rs answers whether it fits, jsonschema words why not.

jsonschema (pure Python) walks a 2,000-test execution report in about 0.4 s;
jsonschema-rs, the compiled validator Schemathesis already ships, answers in
about a millisecond. Data that fits, nearly always, never reaches jsonschema,
which is imported only when something breaks a schema, so every message keeps
jsonschema's wording and JSON path.

The fast answer is never laxer than jsonschema's about the JSON that is written:

- a value jsonschema-rs cannot take (a non-JSON object, a non-string key) or
  judges otherwise (NaN and infinity are no numbers to it) goes to jsonschema;
- `format` is asserted by jsonschema's own format functions (jsonschema-rs's
  date-time accepts leap seconds and year 0, which jsonschema refuses);
- a `pattern` is ECMA-262 there, whose `$` does not match before a final
  newline as Python's does: stricter, never laxer;
- a tuple is an array to jsonschema-rs and not to jsonschema, and `json.dumps`
  writes it as an array: the written document fits either way.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

import jsonschema_rs

if TYPE_CHECKING:
    from jsonschema import FormatChecker
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

#: What jsonschema-rs raises for a Python value it cannot read as JSON.
_UNREADABLE = (ValueError, TypeError, OverflowError, RecursionError)


class SchemaCheck:
    """One draft 2020-12 JSON Schema, compiled on first use; `formats` asserts `format` as jsonschema's FormatChecker does."""

    def __init__(self, schema: Mapping[str, Any], *, formats: bool = False) -> None:
        self.schema = schema
        self.formats = formats

    @cached_property
    def _fast(self) -> jsonschema_rs.Draft202012Validator:
        used = sorted(_format_names(self.schema)) if self.formats else []
        checks = {name: _format_function(name) for name in used}
        return jsonschema_rs.Draft202012Validator(dict(self.schema), validate_formats=bool(checks), formats=checks or None)

    @cached_property
    def _slow(self) -> Validator:
        from jsonschema import Draft202012Validator  # lazy: only data that breaks a schema pays for importing it

        return Draft202012Validator(self.schema, format_checker=_format_checker() if self.formats else None)

    def fits(self, data: Any) -> bool:
        """Whether `data` fits the schema; False also when jsonschema-rs cannot tell, so `errors` decides."""
        try:
            return bool(self._fast.is_valid(data))
        except _UNREADABLE:
            return False

    def errors(self, data: Any) -> Iterator[ValidationError]:
        """jsonschema's errors about `data`, in jsonschema's order; none, without asking jsonschema, when it fits."""
        if self.fits(data):
            return iter(())
        return self._slow.iter_errors(data)


def _format_names(schema: Any) -> set[str]:
    """Every `format` value anywhere in a schema."""
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("format"), str):
                found.add(node["format"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


@cache
def _format_checker() -> FormatChecker:
    from jsonschema import FormatChecker

    return FormatChecker()


def _format_function(name: str) -> Any:
    """jsonschema's own check of format `name` (a format it does not know always conforms, as there)."""
    if name == "date-time":
        return _date_time
    return lambda value: _format_checker().conforms(value, name)


def _date_time(value: object) -> bool:
    """jsonschema's date-time function itself (rfc3339-validator on the upper-cased string), without importing jsonschema (~0.1 s)."""
    from rfc3339_validator import validate_rfc3339

    return not isinstance(value, str) or bool(validate_rfc3339(value.upper()))
