"""Live execution: every documented operation of one document exercised against the running service, one record per document."""

from __future__ import annotations

import time
from typing import Any, Callable

import httpx

from interlock.contracts.openapi.check import Unreachable, exercise
from interlock.contracts.openapi.document import Document
from interlock.contracts.openapi.plan import Operation, Unexercised, operations, plan
from interlock.statuses import ContractStatus

UNEXERCISED = "no example or fixture: unexercised"


def item(operation: Operation, status: str, found: list[dict[str, Any]], duration_ms: float, states: list[str] | None = None) -> dict[str, Any]:
    return {"id": operation.interface_id, "description": operation.description, "provider_states": states or [], "status": status,
            "duration_ms": round(duration_ms, 3), "mismatches": found}


def unexercised(operation: Operation, why: Unexercised) -> dict[str, Any]:
    """An operation nothing could exercise: not executed, which Gate 2 counts as a failure."""
    return item(operation, "not_executed", [{"type": "unexercised", "path": None, "expected": str(why), "actual": None, "message": UNEXERCISED}], 0.0)


def check_operation(doc: Document, operation: Operation, fixtures: list[Any], client: httpx.Client, base_url: str,
                    perform_setup: Callable[[Any], None]) -> dict[str, Any]:
    """Every planned request of one operation; raises Unreachable when the service does not answer."""
    start = time.perf_counter()
    try:
        planned = plan(operation, fixtures)
    except Unexercised as exc:
        return unexercised(operation, exc)
    statuses, found = [], []
    for request in planned:
        status, problems = exercise(doc, operation, request, client, base_url, perform_setup)
        statuses.append(status)
        prefix = f"[{request.label}] " if len(planned) > 1 else ""
        found += [{**m, "message": prefix + m["message"]} for m in problems]
    status = ContractStatus.ERROR if ContractStatus.ERROR in statuses else ContractStatus.FAIL if ContractStatus.FAIL in statuses else ContractStatus.PASS
    states = [f"setup: {r.label}" for r in planned if r.setup is not None]
    return item(operation, status, found, (time.perf_counter() - start) * 1000, states)


def verify_document(doc: Document, base_url: str | None, fixtures: dict[str, list[Any]], timeout: float,
                    perform_setup: Callable[[Any], None]) -> dict[str, Any]:
    """The record of one service document."""
    start = time.perf_counter()
    record: dict[str, Any] = {
        "id": f"openapi:{doc.source}->{doc.service}", "kind": "openapi", "consumer": f"openapi:{doc.source}", "provider": doc.service,
        "source": doc.source, "specification": doc.version, "status": ContractStatus.ERROR, "duration_ms": 0.0, "reason": doc.error, "interactions": [],
    }
    if doc.error:
        return record
    ops = operations(doc.app.spec, doc.service)
    items: list[dict[str, Any]] = []
    down: str | None = None if base_url else f"{doc.service} has no URL in this environment"
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for operation in ops:
            if down is not None:
                try:
                    plan(operation, fixtures.get(operation.interface_id, []))
                except Unexercised as exc:
                    items.append(unexercised(operation, exc))
                    continue
                items.append(item(operation, "error", [{"type": "error", "path": None, "message": f"not attempted: {down}"}], 0.0))
                continue
            assert base_url is not None  # `down` is set whenever there is no URL
            op_start = time.perf_counter()
            try:
                items.append(check_operation(doc, operation, fixtures.get(operation.interface_id, []), client, base_url.rstrip("/"), perform_setup))
            except Unreachable as exc:
                down = str(exc)
                items.append(item(operation, "error", [{"type": "error", "path": None, "message": down}], (time.perf_counter() - op_start) * 1000))
    documented = {op.interface_id for op in ops}
    for key in sorted(k for k in fixtures if k.split(":", 1)[0] == doc.service and k not in documented):
        items.append({"id": key, "description": "fixture for an undocumented operation", "provider_states": [], "status": ContractStatus.ERROR, "duration_ms": 0.0,
                      "mismatches": [{"type": "fixture", "path": None, "message": f"[contracts.openapi.fixtures] names {key!r}, which {doc.source} does not document; fix the key or document the operation"}]})
    statuses = {i["status"] for i in items}
    record["interactions"] = items
    record["duration_ms"] = round((time.perf_counter() - start) * 1000, 3)
    if not items:
        record.update(status=ContractStatus.NOT_EXECUTED, reason=f"{doc.source} documents no operation: nothing was verified")
    elif statuses == {ContractStatus.NOT_EXECUTED}:
        record["status"] = ContractStatus.NOT_EXECUTED
    elif statuses == {ContractStatus.PASS}:
        record["status"] = ContractStatus.PASS
    else:
        record["status"] = ContractStatus.ERROR if statuses <= {ContractStatus.ERROR, ContractStatus.NOT_EXECUTED} else ContractStatus.FAIL
    if down:
        record["reason"] = down
    return record
