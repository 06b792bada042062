"""The schema spec a service declares: its tables, columns, keys and indexes, parsed with every problem at its JSON path (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interlock.documents import load_document
from interlock.errors import Problem, UsageError
from interlock.files import sha256_file

SPEC_VERSION = 1
FAMILIES = ("smallint", "integer", "bigint", "numeric", "float", "boolean", "text", "timestamp", "date", "time", "json", "uuid", "binary")
# spec spelling → (family, how many parenthesised numbers it takes: min, max)
_SPELLINGS: dict[str, tuple[str, int, int]] = {
    "smallint": ("smallint", 0, 0), "int2": ("smallint", 0, 0),
    "integer": ("integer", 0, 0), "int": ("integer", 0, 0), "int4": ("integer", 0, 0),
    "bigint": ("bigint", 0, 0), "int8": ("bigint", 0, 0),
    "numeric": ("numeric", 0, 2), "decimal": ("numeric", 0, 2),
    "float": ("float", 0, 0), "real": ("float", 0, 0), "double": ("float", 0, 0), "double precision": ("float", 0, 0),
    "boolean": ("boolean", 0, 0), "bool": ("boolean", 0, 0),
    "text": ("text", 0, 0), "varchar": ("text", 1, 1), "char": ("text", 1, 1),
    "timestamp": ("timestamp", 0, 0), "datetime": ("timestamp", 0, 0),
    "date": ("date", 0, 0), "time": ("time", 0, 0), "json": ("json", 0, 0), "uuid": ("uuid", 0, 0),
    "binary": ("binary", 0, 0), "blob": ("binary", 0, 0), "bytea": ("binary", 0, 0),
}
_TYPE = re.compile(r"^\s*([a-z][a-z0-9 ]*?)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*$")
_REFERENCE = re.compile(r"^\s*([A-Za-z_][\w$]*(?:\.[A-Za-z_][\w$]*)?)\s*\(\s*([^()]+?)\s*\)\s*$")


@dataclass(frozen=True)
class DeclaredType:
    """A column type as a spec writes it: its family and, for some, a length or precision and scale."""

    family: str
    spelling: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None

    def __str__(self) -> str:
        if self.length is not None:
            return f"{self.spelling}({self.length})"
        if self.precision is not None:
            return f"{self.spelling}({self.precision}{'' if self.scale is None else f',{self.scale}'})"
        return self.spelling

    def compatible(self, other: DeclaredType) -> bool:
        """Whether one live column could satisfy both declarations."""
        return self.family == other.family and all(
            a is None or b is None or a == b
            for a, b in ((self.length, other.length), (self.precision, other.precision), (self.scale, other.scale))
        )


@dataclass(frozen=True)
class ColumnSpec:
    type: DeclaredType
    nullable: bool | None = None  # None: not checked


@dataclass(frozen=True)
class ForeignKeySpec:
    columns: tuple[str, ...]
    table: str
    referred: tuple[str, ...]

    def __str__(self) -> str:
        return f"({', '.join(self.columns)}) references {self.table}({', '.join(self.referred)})"


@dataclass(frozen=True)
class IndexSpec:
    columns: tuple[str, ...]
    unique: bool | None = None  # None: either


@dataclass(frozen=True)
class TableSpec:
    columns: dict[str, ColumnSpec]
    primary_key: tuple[str, ...] | None = None
    unique: tuple[tuple[str, ...], ...] = ()
    foreign_keys: tuple[ForeignKeySpec, ...] = ()
    indexes: tuple[IndexSpec, ...] = ()

    def summary(self) -> str:
        parts = [f"{len(self.columns)} column{'s' if len(self.columns) != 1 else ''}"]
        if self.primary_key:
            parts.append(f"primary key ({', '.join(self.primary_key)})")
        for label, items in (("unique", self.unique), ("foreign keys", self.foreign_keys), ("indexes", self.indexes)):
            if items:
                parts.append(f"{len(items)} {label}")
        return ", ".join(parts)


@dataclass(frozen=True)
class SchemaSpec:
    path: Path
    sha256: str
    tables: dict[str, TableSpec]
    description: str = ""


def parse_type(text: str) -> DeclaredType:
    """``integer``, ``varchar(36)``, ``numeric(10,2)`` ... as a `DeclaredType`; ValueError says what is allowed."""
    match = _TYPE.match(text.lower())
    spelling = re.sub(r"\s+", " ", match.group(1)) if match else None
    if not match or spelling not in _SPELLINGS:
        raise ValueError(f"unknown type {text!r}; use one of: {', '.join(sorted(_SPELLINGS))} (see interlock.contracts.schema)")
    family, least, most = _SPELLINGS[spelling]
    numbers = [int(n) for n in match.groups()[1:] if n is not None]
    if not least <= len(numbers) <= most:
        wanted = f"{spelling}(N)" if least else f"{spelling}(P) or {spelling}(P,S)" if most == 2 else spelling
        raise ValueError(f"type {text!r} takes {'no size' if not most else 'a size'}; write {wanted}")
    if family == "text" and numbers:
        if numbers[0] < 1:
            raise ValueError(f"type {text!r}: the length must be at least 1")
        return DeclaredType(family, spelling, length=numbers[0])
    if family == "numeric" and numbers:
        if len(numbers) == 2 and numbers[1] > numbers[0]:
            raise ValueError(f"type {text!r}: the scale cannot exceed the precision")
        return DeclaredType(family, spelling, precision=numbers[0], scale=numbers[1] if len(numbers) == 2 else None)
    return DeclaredType(family, spelling)


class _Reader:
    """Walks a parsed spec, collecting every problem with its JSON path."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[Problem] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(Problem(str(self.path), message, key=key))

    def mapping(self, value: Any, key: str, allowed: Iterable[str], what: str) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.problem(key, f"{what} must be a mapping (got {type(value).__name__})")
            return None
        allowed = tuple(allowed)
        for name in value:
            if name not in allowed:
                self.problem(f"{key}.{name}", f"unknown key {name!r} in {what}; allowed: {', '.join(allowed)}")
        return value

    def names(self, value: Any, key: str, columns: Mapping[str, ColumnSpec] | None, what: str) -> tuple[str, ...] | None:
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
            self.problem(key, f"{what} must be a non-empty list of column names, like [id]")
            return None
        if len({v.lower() for v in value}) != len(value):
            self.problem(key, f"{what} names a column twice")
        if columns is not None:
            declared = {c.lower() for c in columns}
            for index, name in enumerate(value):
                if name.lower() not in declared:
                    self.problem(f"{key}[{index}]", f"column {name!r} is not declared under columns; declare it or fix the name")
        return tuple(value)

    def column(self, value: Any, key: str) -> ColumnSpec | None:
        if isinstance(value, str):
            value = {"type": value}
        body = self.mapping(value, key, ("type", "nullable"), "a column (or a type string)")
        if body is None:
            return None
        if not isinstance(body.get("type"), str):
            self.problem(f"{key}.type", "missing type; give a type like integer, bigint, text, varchar(36), numeric(10,2), boolean, timestamp")
            return None
        try:
            declared = parse_type(body["type"])
        except ValueError as exc:
            self.problem(f"{key}.type", str(exc))
            return None
        nullable = body.get("nullable")
        if nullable is not None and not isinstance(nullable, bool):
            self.problem(f"{key}.nullable", f"nullable must be true or false (got {nullable!r})")
            nullable = None
        return ColumnSpec(declared, nullable)

    def table(self, value: Any, key: str) -> TableSpec | None:
        body = self.mapping(value, key, ("columns", "primary_key", "unique", "foreign_keys", "indexes"), "a table")
        if body is None:
            return None
        columns: dict[str, ColumnSpec] = {}
        raw_columns = body.get("columns")
        if not isinstance(raw_columns, dict) or not raw_columns:
            self.problem(f"{key}.columns", "a table needs `columns`: a mapping of column name to {type, nullable}")
        else:
            seen: set[str] = set()
            for name, spec in raw_columns.items():
                if str(name).lower() in seen:
                    self.problem(f"{key}.columns.{name}", "column declared twice (names are compared case-insensitively)")
                seen.add(str(name).lower())
                column = self.column(spec, f"{key}.columns.{name}")
                if column is not None:
                    columns[str(name)] = column
        known = columns if isinstance(raw_columns, dict) and len(columns) == len(raw_columns) else None
        primary_key = self.names(body["primary_key"], f"{key}.primary_key", known, "primary_key") if "primary_key" in body else None
        unique: list[tuple[str, ...]] = []
        raw_unique = body.get("unique", [])
        if not isinstance(raw_unique, list):
            self.problem(f"{key}.unique", "unique must be a list of column lists, like [[order_id], [a, b]]")
        else:
            for index, item in enumerate(raw_unique):
                names = self.names(item, f"{key}.unique[{index}]", known, "each unique entry")
                if names:
                    unique.append(names)
        foreign_keys: list[ForeignKeySpec] = []
        raw_fks = body.get("foreign_keys", [])
        if not isinstance(raw_fks, list):
            self.problem(f"{key}.foreign_keys", "foreign_keys must be a list of {columns: [...], references: \"table(col)\"}")
        else:
            for index, item in enumerate(raw_fks):
                fk = self.foreign_key(item, f"{key}.foreign_keys[{index}]", known)
                if fk:
                    foreign_keys.append(fk)
        indexes: list[IndexSpec] = []
        raw_indexes = body.get("indexes", [])
        if not isinstance(raw_indexes, list):
            self.problem(f"{key}.indexes", "indexes must be a list of {columns: [...], unique: true|false}")
        else:
            for index, item in enumerate(raw_indexes):
                entry = self.mapping(item, f"{key}.indexes[{index}]", ("columns", "unique"), "an index")
                if entry is None:
                    continue
                names = self.names(entry.get("columns"), f"{key}.indexes[{index}].columns", known, "columns")
                flag = entry.get("unique")
                if flag is not None and not isinstance(flag, bool):
                    self.problem(f"{key}.indexes[{index}].unique", f"unique must be true or false (got {flag!r})")
                    flag = None
                if names:
                    indexes.append(IndexSpec(names, flag))
        return TableSpec(columns, primary_key, tuple(unique), tuple(foreign_keys), tuple(indexes))

    def foreign_key(self, value: Any, key: str, known: Mapping[str, ColumnSpec] | None) -> ForeignKeySpec | None:
        entry = self.mapping(value, key, ("columns", "references"), "a foreign key")
        if entry is None:
            return None
        names = self.names(entry.get("columns"), f"{key}.columns", known, "columns")
        reference = entry.get("references")
        match = _REFERENCE.match(reference) if isinstance(reference, str) else None
        if not match:
            self.problem(f"{key}.references", f"references must read \"table(column, ...)\" (got {reference!r})")
            return None
        referred = tuple(c.strip() for c in match.group(2).split(","))
        if not all(referred):
            self.problem(f"{key}.references", f"references names an empty column: {reference!r}")
            return None
        if names and len(names) != len(referred):
            self.problem(f"{key}.references", f"{len(names)} columns reference {len(referred)} columns; give as many on each side")
            return None
        return ForeignKeySpec(names, match.group(1), referred) if names else None


def parse_spec(data: Any, path: Path, sha256: str = "") -> SchemaSpec:
    """Validate a parsed spec; every problem is reported at once, each with the file and its key."""
    reader = _Reader(path)
    tables: dict[str, TableSpec] = {}
    description = ""
    body = reader.mapping(data, "$", ("version", "description", "tables"), "a schema spec")
    if body is not None:
        if "version" in body and body["version"] != SPEC_VERSION:
            reader.problem("$.version", f"unsupported spec version {body['version']!r}; the only version is {SPEC_VERSION}")
        if not isinstance(body.get("description", ""), str):
            reader.problem("$.description", "description must be text")
        else:
            description = body.get("description", "")
        raw = body.get("tables")
        if not isinstance(raw, dict):
            reader.problem("$.tables", "missing `tables`: a mapping of table name to {columns, primary_key, unique, foreign_keys, indexes}")
        else:
            seen: set[str] = set()
            for name, spec in raw.items():
                if not str(name).strip():
                    reader.problem("$.tables", "a table name is empty")
                    continue
                if str(name).lower() in seen:
                    reader.problem(f"$.tables.{name}", "table declared twice (names are compared case-insensitively)")
                seen.add(str(name).lower())
                table = reader.table(spec, f"$.tables.{name}")
                if table is not None:
                    tables[str(name)] = table
    if reader.problems:
        error = UsageError(reader.problems[0])
        error.problems = reader.problems
        raise error
    return SchemaSpec(path, sha256, tables, description)


def load_spec(path: Path) -> SchemaSpec:
    """Read and validate one spec file (YAML, TOML or JSON by suffix)."""
    data = load_document(path)
    return parse_spec(data, path, sha256_file(path))
