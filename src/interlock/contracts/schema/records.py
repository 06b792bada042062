"""The contract records of the schema checks: one per `[[contracts.schema]]` entry, an item per declared table (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from interlock.config import SchemaContract
from interlock.contracts.schema.compare import compare_table, disagreements, mismatch
from interlock.contracts.schema.document import SPEC_VERSION, SchemaSpec
from interlock.contracts.schema.live import StoreView
from interlock.statuses import ContractStatus


@dataclass(frozen=True)
class Entry:
    """One `[[contracts.schema]]` entry with its loaded spec, and the label its records and mismatches name it by."""

    index: int
    contract: SchemaContract
    spec: SchemaSpec
    label: str  # the service, plus the file when the service has several entries for the store


def records(found: Sequence[Entry], views: Mapping[str, StoreView]) -> list[dict[str, Any]]:
    """One record per entry: an item per declared table, then an agreement item per table another entry declares too (pure)."""
    by_table: dict[tuple[str, str], list[Entry]] = {}
    for entry in found:
        for table in entry.spec.tables:
            by_table.setdefault((entry.contract.store, table.lower()), []).append(entry)
    out = []
    for entry in found:
        store = entry.contract.store
        view = views[store]
        items: list[dict[str, Any]] = []
        for table, spec in entry.spec.tables.items():
            item: dict[str, Any] = {"id": f"{store}:table {table}", "description": f"{entry.label} expects table {table} in {store}: {spec.summary()}", "provider_states": []}
            live, duration = view.tables.get(table, (None, view.connect_ms)) if view.error is None else (None, view.connect_ms)
            if view.error is not None or isinstance(live, str):
                why = view.error if view.error is not None else str(live)
                item.update(status=ContractStatus.ERROR, duration_ms=duration, mismatches=[mismatch("error", None, None, None, f"not checked: {why}")])
            else:
                found_ = compare_table(table, spec, live, f"{store} ({view.where})")
                item.update(status=ContractStatus.FAIL if found_ else ContractStatus.PASS, duration_ms=duration, mismatches=found_)
            items.append(item)
        for table, spec in entry.spec.tables.items():
            others = [e for e in by_table[(store, table.lower())] if e is not entry]
            if not others:
                continue
            theirs = [(e.label, next(s for t, s in e.spec.tables.items() if t.lower() == table.lower())) for e in others]
            found_ = disagreements(table, (entry.label, spec), theirs)
            items.append({
                "id": f"{store}:table {table} (agreement)",
                "description": f"the declarations of {table} by {entry.label} and {', '.join(label for label, _ in theirs)} agree",
                "provider_states": [], "status": ContractStatus.FAIL if found_ else ContractStatus.PASS, "duration_ms": 0.0, "mismatches": found_,
            })
        statuses = {i["status"] for i in items}
        status = ContractStatus.NOT_EXECUTED if not items else ContractStatus.FAIL if ContractStatus.FAIL in statuses else ContractStatus.ERROR if ContractStatus.ERROR in statuses else ContractStatus.PASS
        reason = None if items else "the spec declares no tables: nothing was checked"
        if view.error is not None and items:
            reason = view.error
        out.append({
            "id": f"schema:{entry.label}->{store}", "kind": "schema", "consumer": entry.contract.service, "provider": store,
            "source": entry.contract.path, "specification": str(SPEC_VERSION), "status": status,
            "duration_ms": round(sum(i["duration_ms"] for i in items), 3), "reason": reason, "interactions": items,
        })
    return out
