"""The contract records of the AsyncAPI checks: one per service document, an item per channel (pure)."""

from __future__ import annotations

from typing import Any

from interlock.contracts.asyncapi.document import AsyncApiDocument
from interlock.statuses import ContractStatus


def record(service: str, source: str, document: AsyncApiDocument, items: list[dict[str, Any]]) -> dict[str, Any]:
    """The record of one service's document: pass only when every channel passed, not executed when none was."""
    statuses = {i["status"] for i in items}
    overall = ContractStatus.NOT_EXECUTED if not items or statuses == {ContractStatus.NOT_EXECUTED} else ContractStatus.PASS if statuses == {ContractStatus.PASS} else ContractStatus.FAIL
    return {
        "id": f"asyncapi:{source}->{service}", "kind": "asyncapi", "consumer": f"asyncapi:{source}", "provider": service,
        "source": source, "specification": f"AsyncAPI {document.version}", "status": overall,
        "duration_ms": round(sum(i["duration_ms"] for i in items), 3),
        "reason": None if items else "the AsyncAPI document declares no channels: nothing was verified", "interactions": items,
    }


def no_document_record() -> dict[str, Any]:
    """The record when [contracts.asyncapi] is configured but no service has a document: not executed, never a pass."""
    return {
        "id": "asyncapi:*", "kind": "asyncapi", "consumer": "asyncapi:-", "provider": "-", "source": "interlock.toml [contracts.asyncapi]",
        "specification": None, "status": ContractStatus.NOT_EXECUTED, "duration_ms": 0.0,
        "reason": "[contracts.asyncapi] is configured but no service declares an `asyncapi` document", "interactions": [],
    }
