"""What a live table lacks of a spec, and where two services' specs of one table cannot both hold (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from interlock.contracts.schema.document import DeclaredType, ForeignKeySpec, TableSpec
from interlock.contracts.schema.live import LiveTable, LiveType


def mismatch(kind: str, path: str | None, expected: Any, actual: Any, message: str) -> dict[str, Any]:
    """One difference as the results artifact records it."""
    return {"type": kind, "path": path, "expected": expected, "actual": actual, "message": message}


def _lower(names: Iterable[str]) -> list[str]:
    return [n.lower() for n in names]


def _cols(names: Iterable[str]) -> str:
    return "(" + ", ".join(names) + ")"


def type_problem(declared: DeclaredType, live: LiveType) -> str | None:
    """Why a live type does not satisfy a declared one; None when it does."""
    if declared.family not in live.families():
        return f"is {live.display} (family {live.family}), expected {declared} (family {declared.family})"
    for label, want, got in (("length", declared.length, live.length), ("precision", declared.precision, live.precision), ("scale", declared.scale, live.scale)):
        if want is not None and got is not None and want != got:
            return f"is {live.display}: {label} {got}, expected {declared}"
    return None


def compare_table(name: str, spec: TableSpec, live: LiveTable | None, store: str = "the store") -> list[dict[str, Any]]:
    """Every way the live table differs from what the spec declares (empty: it satisfies the spec)."""
    base = f"$.tables.{name}"
    if live is None:
        return [mismatch("missing-table", base, f"table {name}", None, f"table {name} does not exist in {store}")]
    found: list[dict[str, Any]] = []
    pk = _lower(live.primary_key)
    for column, declared in spec.columns.items():
        path = f"{base}.columns.{column}"
        have = live.columns.get(column.lower())
        if have is None:
            found.append(mismatch("missing-column", path, str(declared.type), None, f"column {name}.{column} does not exist"))
            continue
        problem = type_problem(declared.type, have.type)
        if problem:
            found.append(mismatch("type", f"{path}.type", str(declared.type), have.type.display, f"column {name}.{column} {problem}"))
        nullable = have.nullable and column.lower() not in pk
        if declared.nullable is not None and declared.nullable != nullable:
            found.append(mismatch("nullable", f"{path}.nullable", declared.nullable, nullable,
                                   f"column {name}.{column} is {'nullable' if nullable else 'NOT NULL'}, expected {'nullable' if declared.nullable else 'NOT NULL'}"))
    if spec.primary_key is not None and _lower(spec.primary_key) != pk:
        found.append(mismatch("primary-key", f"{base}.primary_key", list(spec.primary_key), live.primary_key,
                               f"table {name} has primary key {_cols(live.primary_key) if pk else 'none'}, expected {_cols(spec.primary_key)}"))
    unique_sets = [sorted(_lower(u)) for u in live.unique] + [sorted(_lower(i["columns"])) for i in live.indexes if i["unique"]]
    if pk:
        unique_sets.append(sorted(pk))
    for index, columns in enumerate(spec.unique):
        if sorted(_lower(columns)) not in unique_sets:
            shown = sorted({tuple(u) for u in unique_sets})
            found.append(mismatch("unique", f"{base}.unique[{index}]", list(columns), [list(u) for u in shown],
                                   f"table {name} has no unique constraint, unique index or primary key on {_cols(columns)}"))
    for index, fk in enumerate(spec.foreign_keys):
        if not any(_matches_fk(fk, have) for have in live.foreign_keys):
            found.append(mismatch("foreign-key", f"{base}.foreign_keys[{index}]", str(fk), [_fk_text(f) for f in live.foreign_keys],
                                   f"table {name} has no foreign key {fk}"))
    candidates = [(_lower(i["columns"]), i["unique"]) for i in live.indexes] + [(_lower(u), True) for u in live.unique] + ([(pk, True)] if pk else [])
    for index, wanted in enumerate(spec.indexes):
        same = [unique for columns, unique in candidates if columns == _lower(wanted.columns)]
        kind = "" if wanted.unique is None else "unique " if wanted.unique else "non-unique "
        if not same or (wanted.unique is not None and wanted.unique not in same):
            actual = [{"columns": i["columns"], "unique": i["unique"]} for i in live.indexes]
            detail = f"only a {'unique' if same[0] else 'non-unique'} one" if same else "none"
            found.append(mismatch("index", f"{base}.indexes[{index}]", {"columns": list(wanted.columns), "unique": wanted.unique}, actual,
                                   f"table {name} has no {kind}index on {_cols(wanted.columns)} ({detail})"))
    return found


def _matches_fk(spec: ForeignKeySpec, live: Mapping[str, Any]) -> bool:
    schema, _, table = spec.table.rpartition(".")
    return (
        _lower(live.get("constrained_columns") or []) == _lower(spec.columns)
        and str(live.get("referred_table") or "").lower() == table.lower()
        and (not schema or str(live.get("referred_schema") or "").lower() == schema.lower())
        and _lower(live.get("referred_columns") or []) == _lower(spec.referred)
    )


def _fk_text(live: Mapping[str, Any]) -> str:
    table = ".".join(p for p in (live.get("referred_schema"), live.get("referred_table")) if p)
    return f"{_cols(live.get('constrained_columns') or [])} references {table}{_cols(live.get('referred_columns') or [])}"


def disagreements(name: str, mine: tuple[str, TableSpec], others: Sequence[tuple[str, TableSpec]]) -> list[dict[str, Any]]:
    """Where this declaration of a table cannot hold together with another service's (pure)."""
    label, spec = mine
    found: list[dict[str, Any]] = []
    for other_label, other in others:
        theirs = {c.lower(): (c, s) for c, s in other.columns.items()}
        for column, declared in spec.columns.items():
            if column.lower() not in theirs:
                continue
            _, their = theirs[column.lower()]
            path = f"$.tables.{name}.columns.{column}"
            if not declared.type.compatible(their.type):
                found.append(mismatch("agreement", f"{path}.type", {label: str(declared.type)}, {other_label: str(their.type)},
                                       f"{label} declares {name}.{column} as {declared.type}, {other_label} as {their.type}"))
            if declared.nullable is not None and their.nullable is not None and declared.nullable != their.nullable:
                found.append(mismatch("agreement", f"{path}.nullable", {label: declared.nullable}, {other_label: their.nullable},
                                       f"{label} declares {name}.{column} {'nullable' if declared.nullable else 'NOT NULL'}, "
                                       f"{other_label} {'nullable' if their.nullable else 'NOT NULL'}"))
        if spec.primary_key is not None and other.primary_key is not None and _lower(spec.primary_key) != _lower(other.primary_key):
            found.append(mismatch("agreement", f"$.tables.{name}.primary_key", {label: list(spec.primary_key)}, {other_label: list(other.primary_key)},
                                   f"{label} declares the primary key of {name} as {_cols(spec.primary_key)}, {other_label} as {_cols(other.primary_key)}"))
    return found
