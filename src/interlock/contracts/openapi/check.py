"""Exercising one operation: send the planned request, validate it and its response with openapi-core.

openapi-core has no httpx adapter, so `SentRequest` and `ReceivedResponse` put
its Request and Response protocols over the httpx request that was really sent
and the response that really came back. Each of openapi-core's errors becomes
a mismatch record (type, JSON path, expected, actual, message).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Callable, Iterable

import httpx
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.media_types.exceptions import MediaTypeNotFound
from openapi_core.templating.paths.exceptions import PathError
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.validation.request.exceptions import MissingRequestBodyError, ParameterValidationError, RequestBodyValidationError, SecurityValidationError
from openapi_core.validation.response.exceptions import HeaderValidationError, MissingData, MissingRequiredHeader
from werkzeug.datastructures import Headers, ImmutableMultiDict

from interlock.contracts.openapi.plan import Operation, Planned
from interlock.probes import redact_url

if TYPE_CHECKING:
    from interlock.contracts.openapi.document import Document

MAX_REPEATS = 3  # the same violation in more array elements than this is summarised


class SentRequest:
    """openapi-core's Request protocol over the httpx request that was really sent."""

    def __init__(self, sent: httpx.Request, path_pattern: str, path_params: dict[str, str], cookies: dict[str, str]) -> None:
        self.host_url = f"{sent.url.scheme}://{sent.url.netloc.decode('ascii')}"
        self.path = sent.url.path
        self.path_pattern = path_pattern
        self.method = sent.method.lower()
        self.body = sent.content or None
        self.content_type = sent.headers.get("content-type", "").lower()
        self.parameters = RequestParameters(
            path=dict(path_params), query=ImmutableMultiDict(sent.url.params.multi_items()),
            header=Headers(list(sent.headers.items())), cookie=ImmutableMultiDict(cookies),
        )


class ReceivedResponse:
    """openapi-core's Response protocol over the httpx response that really came back."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.headers = Headers(list(response.headers.items()))
        self.content_type = response.headers.get("content-type", "").lower()
        self.data = response.content


class Unreachable(Exception):
    """The service did not answer at all; the remaining operations are not attempted."""


def status_mismatch(operation: Operation, planned: Planned, status: int) -> dict[str, Any] | None:
    """The status a request should get: the fixture's, else a documented 2xx when the operation documents one."""
    if planned.expect_status is not None:
        if status != planned.expect_status:
            return {"type": "response-status", "path": None, "expected": planned.expect_status, "actual": status, "message": f"status {status} where the fixture expects {planned.expect_status}"}
        return None
    success = operation.success_statuses()
    if success and not any(re.fullmatch(code.upper().replace("X", r"\d"), str(status)) for code in success):
        return {"type": "response-status", "path": None, "expected": success, "actual": status,
                "message": f"the documented example request got {status}, not a documented success status ({', '.join(success)}); a fixture with `status` pins another outcome"}
    return None


def exercise(doc: Document, operation: Operation, planned: Planned, client: httpx.Client, base_url: str,
             perform_setup: Callable[[Any], None]) -> tuple[str, list[dict[str, Any]]]:
    """Send one planned request and validate it and its response: (status, mismatches)."""
    if planned.setup is not None:
        try:
            perform_setup(planned.setup)
        except Exception as exc:
            return "fail", [{"type": "setup", "path": None, "message": f"setup failed: {exc}"}]
    pattern = doc.base_path + operation.template
    headers = dict(planned.headers)
    if planned.cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in planned.cookies.items())
    request = client.build_request(operation.method, base_url + doc.base_path + planned.path(operation.template), params=tuple(planned.query) or None,
                                   headers=headers, content=planned.body)
    adapted = SentRequest(request, pattern, planned.path_params, planned.cookies)
    found = mismatches("request", doc.app.iter_request_errors(adapted))
    try:
        response = client.send(request)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise Unreachable(f"{doc.service} did not answer {operation.method} {redact_url(str(request.url))}: {type(exc).__name__}: {exc}") from None
    except httpx.HTTPError as exc:
        return "error", found + [{"type": "error", "path": None, "message": f"{operation.method} {redact_url(str(request.url))} failed: {type(exc).__name__}: {exc}"}]
    found += mismatches("response", doc.app.iter_response_errors(adapted, ReceivedResponse(response)))
    unexpected = status_mismatch(operation, planned, response.status_code)
    if unexpected and (planned.expect_status is not None or not any(m["type"] == "response-status" for m in found)):
        found.append(unexpected)  # an undocumented status is already reported; a fixture's expectation always is
    return ("fail" if found else "pass"), found


def _short(value: Any) -> Any:
    """A value small enough for a report; big ones are described instead."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)[:200]
    if len(text) <= 200:
        return value
    return f"<{type(value).__name__} of {len(value) if hasattr(value, '__len__') else len(text)} items: {text[:120]}…>"


def child_path(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", str(key)) else f"{path}[{json.dumps(str(key))}]"


def schema_mismatches(kind: str, where: str, schema_errors: Iterable[Any], root: str = "$") -> list[dict[str, Any]]:
    """One mismatch per jsonschema error, at the exact JSON path (a missing or extra property's own path)."""
    found: list[dict[str, Any]] = []
    for error in schema_errors:
        path = root
        for part in getattr(error, "absolute_path", getattr(error, "path", [])):
            path = child_path(path, part)
        validator, expected, instance = getattr(error, "validator", None), getattr(error, "validator_value", None), getattr(error, "instance", None)
        message = getattr(error, "message", str(error))
        if validator == "required" and isinstance(instance, dict):
            for name in (n for n in expected or [] if n not in instance and message.startswith(repr(n))):
                found.append({"type": kind, "path": child_path(path, name), "expected": "a required property", "actual": "absent", "message": f"{where}: {message}"})
                break
            else:
                found.append({"type": kind, "path": path, "expected": {"required": expected}, "actual": _short(instance), "message": f"{where}: {message}"})
            continue
        if validator == "additionalProperties" and expected is False and isinstance(instance, dict):
            schema = getattr(error, "schema", {}) or {}
            known, patterns = set(schema.get("properties") or {}), list(schema.get("patternProperties") or {})
            extra = [k for k in instance if k not in known and not any(re.search(p, k) for p in patterns)]
            for name in extra or [None]:
                found.append({"type": kind, "path": child_path(path, name) if name else path, "expected": "no property not in the schema (additionalProperties: false)",
                              "actual": _short(instance[name]) if name else _short(instance), "message": f"{where}: {message}"})
            continue
        found.append({"type": kind, "path": path, "expected": {str(validator): _short(expected)} if validator else None, "actual": _short(instance), "message": f"{where}: {message}"})
    return found


def mismatches(side: str, errors: Iterable[Exception]) -> list[dict[str, Any]]:
    """openapi-core's request or response validation errors as mismatch records."""
    found: list[dict[str, Any]] = []
    for exc in errors:
        found += _one(side, exc)
    return summarise_repeats(found)


def summarise_repeats(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same violation in many array elements: the first few with their exact paths, then one line for the rest."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for mismatch in found:
        general = re.sub(r"\[\d+\]", "[*]", mismatch.get("path") or "")
        groups.setdefault((mismatch["type"], general, mismatch["message"]), []).append(mismatch)
    kept = []
    for (kind, general, message), members in groups.items():
        kept += members[:MAX_REPEATS]
        if len(members) > MAX_REPEATS:
            kept.append({"type": kind, "path": general, "message": f"{message} (and in {len(members) - MAX_REPEATS} more elements)"})
    return kept


def _one(side: str, exc: Exception) -> list[dict[str, Any]]:
    cause = exc.__cause__
    schema_errors = list(getattr(cause, "schema_errors", None) or [])
    if isinstance(exc, ResponseNotFound):
        return [{"type": "response-status", "path": None, "expected": sorted(map(str, exc.availableresponses)), "actual": int(exc.http_status) if str(exc.http_status).isdigit() else exc.http_status,
                 "message": f"status {exc.http_status} is not documented for this operation (documented: {', '.join(sorted(map(str, exc.availableresponses)))})"}]
    if isinstance(exc, PathError):
        return [{"type": f"{side}-path", "path": None, "message": f"{side}: {exc}"}]
    if isinstance(exc, ParameterValidationError):
        kind, where, root = "request-parameter", f"{exc.location} parameter {exc.name!r}", f"{exc.location}:{exc.name}"
        if schema_errors:
            return schema_mismatches(kind, where, schema_errors, root)
        if cause is not None and hasattr(cause, "type") and hasattr(cause, "value"):  # CastError
            return [{"type": kind, "path": root, "expected": {"type": cause.type}, "actual": _short(cause.value), "message": f"{where}: {cause}"}]
        return [{"type": kind, "path": root, "message": f"{exc}" + (f": {cause}" if cause else "")}]
    if isinstance(exc, SecurityValidationError):
        return [{"type": "request-security", "path": None, "message": f"request security: {cause or exc}"}]
    if isinstance(exc, HeaderValidationError):
        where, root = f"response header {exc.name!r}", f"header:{exc.name}"
        if isinstance(exc, MissingRequiredHeader):
            return [{"type": "response-header", "path": root, "expected": "present (required)", "actual": "absent", "message": f"{where} is required but absent"}]
        if schema_errors:
            return schema_mismatches("response-header", where, schema_errors, root)
        return [{"type": "response-header", "path": root, "message": f"{where}: {cause or exc}"}]
    body_kind = "request-body" if side == "request" else "response-body"
    if isinstance(exc, (MissingRequestBodyError, MissingData)):
        return [{"type": body_kind, "path": "$", "expected": "a body", "actual": "empty", "message": f"{side} body: {exc}"}]
    if isinstance(cause, MediaTypeNotFound):
        return [{"type": f"{side}-content-type", "path": None, "expected": list(cause.availableMimetypes), "actual": cause.mimetype or "(none)",
                 "message": f"{side} content type {cause.mimetype or '(none)'} is not documented (documented: {', '.join(cause.availableMimetypes)})"}]
    if schema_errors:
        return schema_mismatches(body_kind, f"{side} body", schema_errors)
    if isinstance(exc, RequestBodyValidationError) or side == "response":
        return [{"type": body_kind, "path": "$", "message": f"{side} body: {cause or exc}"}]
    return [{"type": side, "path": None, "message": f"{side}: {type(exc).__name__}: {exc}"}]
