"""Property-based checks with Schemathesis, for the services `[contracts.openapi] schemathesis` lists.

Schemathesis generates requests from the document's schemas (its examples
first) and checks every response for conformance: no 5xx, a documented status,
a documented content type, documented headers, a body that matches the schema.
Generation is derandomized and not shrunk, so the same document gives the same
cases on every run and a run takes a bounded time. Each operation is an item
`<interface id> (schemathesis)`; its mismatches are the distinct failures with
a curl line that reproduces the first case of each. Runs are serialised (one
Hypothesis engine at a time); a missing Schemathesis fails the record, never
skips it.
"""

from __future__ import annotations

import threading
import time
from importlib import metadata
from typing import TYPE_CHECKING, Any

from interlock.statuses import ContractStatus

if TYPE_CHECKING:
    from interlock.contracts.openapi.document import Document

MAX_EXAMPLES = 25
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance", "response_headers_conformance", "response_schema_conformance")
_LOCK = threading.Lock()


def version() -> str | None:
    try:
        return metadata.version("schemathesis")
    except metadata.PackageNotFoundError:
        return None


def settings(services: list[str]) -> dict[str, Any]:
    return {"services": list(services), "version": version() or "not installed", "max_examples": MAX_EXAMPLES, "checks": list(CHECKS),
            "phases": ["explicit", "generate"], "derandomize": True, "shrink": False}


def _record(doc: Document, status: str, reason: str | None, items: list[dict[str, Any]], duration_ms: float) -> dict[str, Any]:
    return {"id": f"schemathesis:{doc.source}->{doc.service}", "kind": "openapi", "consumer": f"schemathesis:{doc.source}", "provider": doc.service,
            "source": doc.source, "specification": doc.version, "status": status, "duration_ms": round(duration_ms, 3), "reason": reason, "interactions": items}


def _checks() -> list[Any]:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi import checks

    return [not_a_server_error] + [getattr(checks, name) for name in CHECKS[1:]]


def _json_path(parts: Any) -> str | None:
    if parts is None:
        return None
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _mismatch(failure: Any, curl: str) -> dict[str, Any]:
    expected = getattr(failure, "defined_status_codes", None) or getattr(failure, "defined_content_types", None)
    actual = getattr(failure, "status_code", None) or getattr(failure, "content_type", None)
    detail = (failure.message or "").strip().splitlines()
    text = f"{failure.title}" + (f": {detail[0]}" if detail else "")
    return {"type": f"schemathesis-{getattr(failure, 'code', 'failure')}", "path": _json_path(getattr(failure, "instance_path", None)),
            "expected": list(expected) if expected else None, "actual": actual, "message": f"{text} (reproduce: {curl})"}


def _operation(operation: Any, interface_id: str, url: str, timeout: float) -> tuple[dict[str, Any], str | None]:
    """Run one operation's generated cases; (item, reason the service stopped answering or None)."""
    import requests
    from hypothesis import HealthCheck, Phase, given
    from hypothesis import settings as hsettings
    from schemathesis.core.failures import FailureGroup

    found: dict[tuple[str, str], dict[str, Any]] = {}
    down: list[str | None]
    calls, down = [0], [None]
    checks = _checks()

    @hsettings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
               suppress_health_check=list(HealthCheck), print_blob=False)
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        if down[0]:
            return
        calls[0] += 1
        try:
            case.call_and_validate(base_url=url, checks=checks, timeout=timeout)
        except FailureGroup as group:
            for failure in group.exceptions:
                key = (type(failure).__name__, failure.title)
                if key not in found:
                    found[key] = _mismatch(failure, case.as_curl_command())
        except requests.ConnectionError as exc:
            down[0] = f"the service did not answer: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"

    start = time.perf_counter()
    try:
        run()
        status = "error" if down[0] else "fail" if found else "pass"
        mismatches = [{"type": "error", "path": None, "message": down[0]}] if down[0] else list(found.values())
    except Exception as exc:  # generation itself failed (an unsupported schema construct, ...)
        status, mismatches = "error", [{"type": "error", "path": None, "message": f"Schemathesis could not run this operation: {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"}]
    method, path = operation.method.upper(), operation.path
    item = {"id": f"{interface_id} (schemathesis)", "description": f"{method} {path}: {calls[0]} generated requests", "provider_states": [],
            "status": status, "duration_ms": round((time.perf_counter() - start) * 1000, 3), "mismatches": mismatches}
    return item, down[0]


def run(doc: Document, url: str | None, timeout: float) -> dict[str, Any]:
    """Property-based checks of one service document against the running service."""
    start = time.perf_counter()
    if doc.error or doc.raw is None:
        return _record(doc, "error", doc.error or "the document could not be read", [], 0.0)
    if version() is None:
        return _record(doc, "error", "Schemathesis is asked for but not installed: `pip install schemathesis` (interlock declares it as a dependency)", [], 0.0)
    if not url:
        return _record(doc, "error", f"{doc.service} has no URL in this environment", [], 0.0)
    import schemathesis
    from schemathesis.core.result import Err

    raw = dict(doc.raw)
    base_url = url.rstrip("/") + doc.base_path
    raw["servers"] = [{"url": base_url}]
    items: list[dict[str, Any]] = []
    down = None
    with _LOCK:
        try:
            schema = schemathesis.openapi.from_dict(raw)
            operations = list(schema.get_all_operations())
        except Exception as exc:
            return _record(doc, "error", f"Schemathesis could not load {doc.source}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}", [], 0.0)
        for result in operations:
            if isinstance(result, Err):  # the operation's own schema error, as Schemathesis words it
                items.append({"id": f"{doc.service}:? (schemathesis)", "description": "an operation Schemathesis could not read", "provider_states": [], "status": ContractStatus.ERROR,
                              "duration_ms": 0.0, "mismatches": [{"type": "error", "path": None, "message": str(result.err()).splitlines()[0][:300]}]})
                continue
            operation = result.ok()
            interface_id = f"{doc.service}:{operation.method.upper()} {operation.path}"
            if down:
                items.append({"id": f"{interface_id} (schemathesis)", "description": f"{operation.method.upper()} {operation.path}: not attempted", "provider_states": [],
                              "status": ContractStatus.ERROR, "duration_ms": 0.0, "mismatches": [{"type": "error", "path": None, "message": f"not attempted: {down}"}]})
                continue
            item, down = _operation(operation, interface_id, base_url, timeout)
            items.append(item)
    statuses = {i["status"] for i in items}
    status = ContractStatus.NOT_EXECUTED if not items else ContractStatus.PASS if statuses == {ContractStatus.PASS} else ContractStatus.ERROR if statuses == {ContractStatus.ERROR} else ContractStatus.FAIL
    reason = down or (None if items else f"{doc.source} documents no operation: nothing was verified")
    return _record(doc, status, reason, items, (time.perf_counter() - start) * 1000)
