"""Shared-storage contracts: the tables each service expects, checked against the live database.

A service declares what it relies on in a shared store with one
``[[contracts.schema]]`` entry per store::

    [[contracts.schema]]
    service = "orders"              # the consumer of the tables
    store = "shopdb"                # a store of every environment
    path = "contracts/schema/orders.yaml"

The spec file (YAML, TOML or JSON, by suffix) declares tables; everything but
``columns`` is optional, and only what is declared is checked (extra columns,
indexes and constraints in the database are fine: the spec states what this
service needs, not the whole schema)::

    version: 1                      # optional; 1 is the only version
    description: what orders reads and writes   # optional
    tables:
      shipments:                    # "schema.table" names a table in another schema
        columns:
          id: {type: text, nullable: false}
          order_id: {type: "varchar(36)", nullable: false}
          note: text                # shorthand: type only, nullability not checked
        primary_key: [id]           # exactly these columns, in this order
        unique: [[order_id]]        # a unique constraint, unique index or primary key on these columns (any order)
        foreign_keys:
          - {columns: [order_id], references: "orders(id)"}
        indexes:
          - {columns: [status, created_at], unique: false}   # ordered; `unique` omitted: either

Columns named by keys, unique sets, foreign keys and indexes must be declared
under ``columns`` (a typo is caught on load). A spec that breaks any of this
is a `UsageError` naming the file and the key (``$.tables.shipments.columns.id.type``).

Types are compared by family, because each database spells them its own way:

========== ============================================== ===================================================
family     spec spelling                                  live types in that family
========== ============================================== ===================================================
smallint   ``smallint``, ``int2``                         SMALLINT, INT2, TINYINT (MySQL/MariaDB, but see boolean)
integer    ``integer``, ``int``, ``int4``                 INTEGER, INT, INT4, int(11), MEDIUMINT, SERIAL
bigint     ``bigint``, ``int8``                           BIGINT, INT8, bigint(20), BIGSERIAL
numeric    ``numeric``, ``decimal``, ``numeric(P[,S])``   NUMERIC, DECIMAL (precision/scale compared when both sides give them)
float      ``float``, ``real``, ``double``                REAL, FLOAT, DOUBLE, DOUBLE PRECISION, FLOAT4/8
boolean    ``boolean``, ``bool``                          BOOLEAN, BOOL, TINYINT(1) (MySQL/MariaDB's BOOLEAN)
text       ``text``, ``varchar(N)``, ``char(N)``          TEXT, VARCHAR, CHARACTER VARYING, CHAR, CLOB, *TEXT, ENUM
timestamp  ``timestamp``, ``datetime``                    TIMESTAMP (with or without time zone), DATETIME
date       ``date``                                       DATE
time       ``time``                                       TIME
json       ``json``                                       JSON, JSONB; LONGTEXT on MySQL/MariaDB (MariaDB's JSON)
uuid       ``uuid``                                       UUID; CHAR(32)/CHAR(36) where there is no UUID type
binary     ``binary``, ``blob``, ``bytea``                BYTEA, BLOB, BINARY, VARBINARY, *BLOB
========== ============================================== ===================================================

A declared ``varchar(N)``/``char(N)`` also requires the live length to be N
where the database reports one (an unbounded TEXT column reports none). A
primary-key column counts as NOT NULL: SQLite reports its primary-key columns
as nullable unless declared NOT NULL, although every other database forbids it.
Identifiers are compared case-insensitively. Views are not tables here.

Verification: every store is inspected once, over one connection, with
SQLAlchemy's inspector (stores side by side). One record per entry
(consumer = service, provider = store), one item per declared table with id
``<store>:table <name>`` (the scope matrix's interface id) and one mismatch per
difference, path ``$.tables.<t>.columns.<c>.type`` and so on, with expected
and actual. An unreachable store makes every item of it "error", with the
reason and never a password. When two entries declare the same table of the
same store, each of them also gets an item ``<store>:table <name> (agreement)``:
the two declarations must be satisfiable by one table (same type family, same
lengths where both give one, same nullability and primary key where both
declare them); each difference is a mismatch naming both services.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import create_engine, inspect
from sqlalchemy import types as sqltypes
from sqlalchemy.engine import Inspector
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from interlock.checks import describe
from interlock.config import SchemaContract
from interlock.documents import load_document
from interlock.errors import Problem, UsageError
from interlock.events import Progress
from interlock.probes import connect_failure, redact_url, scrub
from interlock.probes.sql import _connect_args, _db_error, _engine_url
from interlock.runtime import RunContext

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


# ---------------------------------------------------------------------------
# The spec


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
    return parse_spec(data, path, hashlib.sha256(path.read_bytes()).hexdigest())


# ---------------------------------------------------------------------------
# The live database


@dataclass(frozen=True)
class LiveType:
    """A reflected column type: how the database spells it, its family and the families it also satisfies."""

    display: str
    family: str
    also: frozenset[str] = frozenset()
    length: int | None = None
    precision: int | None = None
    scale: int | None = None

    def families(self) -> frozenset[str]:
        return self.also | {self.family}


@dataclass(frozen=True)
class LiveColumn:
    name: str
    type: LiveType
    nullable: bool


@dataclass
class LiveTable:
    name: str
    columns: dict[str, LiveColumn]  # by lower-case name
    primary_key: list[str]
    unique: list[list[str]]
    foreign_keys: list[dict[str, Any]]
    indexes: list[dict[str, Any]]


def _display(type_: Any, dialect: Any) -> str:
    try:
        return str(type_.compile(dialect=dialect))
    except Exception:  # noqa: BLE001 - a type some dialect cannot render is still shown
        return type(type_).__name__.upper()


def live_type(type_: Any, dialect: Any) -> LiveType:
    """The family of a type the inspector reported, on the dialect that reported it."""
    display = _display(type_, dialect)
    name = type(type_).__name__.upper()
    length = getattr(type_, "length", None)
    mysql = dialect.name in ("mysql", "mariadb")
    if isinstance(type_, sqltypes.Boolean) or name in ("BOOL", "BOOLEAN"):
        return LiveType(display, "boolean")
    if name == "TINYINT":
        if getattr(type_, "display_width", None) == 1:  # MySQL/MariaDB write BOOLEAN as TINYINT(1)
            return LiveType(display, "boolean", frozenset({"smallint"}))
        return LiveType(display, "smallint")
    if isinstance(type_, sqltypes.Uuid) or name == "UUID":
        return LiveType(display, "uuid")
    if isinstance(type_, sqltypes.JSON) or name in ("JSON", "JSONB"):
        return LiveType(display, "json")
    if isinstance(type_, sqltypes.String):  # also TEXT, CLOB, ENUM, the MySQL *TEXT types
        also = set()
        if mysql and name == "LONGTEXT":
            also.add("json")  # MariaDB's JSON is LONGTEXT with a json_valid check
        if dialect.name != "postgresql" and name in ("CHAR", "NCHAR", "VARCHAR") and length in (32, 36):
            also.add("uuid")  # SQLAlchemy's Uuid where the database has no UUID type
        return LiveType(display, "text", frozenset(also), length=length)
    if isinstance(type_, sqltypes.BigInteger):
        return LiveType(display, "bigint")
    if isinstance(type_, sqltypes.SmallInteger):
        return LiveType(display, "smallint")
    if isinstance(type_, sqltypes.Integer):
        return LiveType(display, "integer")
    if isinstance(type_, sqltypes.Float):  # before Numeric: Float is a Numeric in SQLAlchemy
        return LiveType(display, "float")
    if isinstance(type_, sqltypes.Numeric):
        return LiveType(display, "numeric", precision=getattr(type_, "precision", None), scale=getattr(type_, "scale", None))
    if isinstance(type_, sqltypes.DateTime):
        return LiveType(display, "timestamp")
    if isinstance(type_, sqltypes.Date):
        return LiveType(display, "date")
    if isinstance(type_, sqltypes.Time):
        return LiveType(display, "time")
    if isinstance(type_, (sqltypes.LargeBinary, sqltypes._Binary)):
        return LiveType(display, "binary")
    return LiveType(display, f"other ({display})")


def reflect_table(inspector: Inspector, table_name: str, table_names: Mapping[str, str]) -> LiveTable | None:
    """Columns, keys and indexes of one table; None when it does not exist.

    `table_names` maps each real name, and its lower-case form, to the real name.
    """
    schema, _, name = table_name.rpartition(".")
    real = table_names.get(name) or table_names.get(name.lower())
    if real is None:
        return None
    schema_ = schema or None
    dialect = inspector.dialect
    columns = {
        c["name"].lower(): LiveColumn(c["name"], live_type(c["type"], dialect), bool(c.get("nullable", True)))
        for c in inspector.get_columns(real, schema=schema_)
    }
    primary_key = list(inspector.get_pk_constraint(real, schema=schema_).get("constrained_columns") or [])
    unique = [list(u["column_names"]) for u in inspector.get_unique_constraints(real, schema=schema_)]
    foreign_keys: list[dict[str, Any]] = [dict(fk) for fk in inspector.get_foreign_keys(real, schema=schema_)]
    # SQLite: its automatic indexes are the reliable record of inline UNIQUE columns (SQLAlchemy's
    # get_unique_constraints misses `sku VARCHAR(20) UNIQUE`: it cannot parse a type with a size there).
    options = {"include_auto_indexes": True} if dialect.name == "sqlite" else {}
    indexes = [
        {"columns": [c if c is not None else "(expression)" for c in i["column_names"]], "unique": bool(i.get("unique"))}
        for i in inspector.get_indexes(real, schema=schema_, **options)
    ]
    return LiveTable(real, columns, primary_key, unique, foreign_keys, indexes)


@dataclass
class StoreView:
    """What one store answered: per table, the live table (None: absent) or the error, and how long it took."""

    where: str
    error: str | None = None
    tables: dict[str, tuple[LiveTable | None | str, float]] = field(default_factory=dict)
    connect_ms: float = 0.0


def inspect_store(kind: str, url: str, tables: Sequence[str], timeout: float) -> StoreView:
    """Reflect `tables` from one store over one connection; a store that cannot be asked gives its reason, password masked."""
    start = time.perf_counter()
    try:
        sa_url, where = _engine_url(kind, url)  # type: ignore[arg-type]
    except ValueError as exc:
        return StoreView(redact_url(url), scrub(str(exc), url), connect_ms=_ms(start))
    except Exception as exc:  # noqa: BLE001 - an unparsable URL is a reason, not a crash
        return StoreView(redact_url(url), scrub(f"bad store URL {redact_url(url)}: {describe(exc)}", url), connect_ms=_ms(start))
    view = StoreView(where)
    engine = create_engine(sa_url, poolclass=NullPool, connect_args=_connect_args(kind, timeout))  # type: ignore[arg-type]
    try:
        with engine.connect() as conn:
            view.connect_ms = _ms(start)
            inspector = inspect(conn)
            names_by_schema: dict[str | None, dict[str, str]] = {}
            for table_name in tables:
                began = time.perf_counter()
                schema = table_name.rpartition(".")[0] or None
                try:
                    if schema not in names_by_schema:
                        found = inspector.get_table_names(schema=schema)
                        names_by_schema[schema] = {n.lower(): n for n in found} | {n: n for n in found}
                    view.tables[table_name] = (reflect_table(inspector, table_name, names_by_schema[schema]), _ms(began))
                except Exception as exc:  # noqa: BLE001 - a table that could not be read is an error item, never a crash
                    view.tables[table_name] = (scrub(f"{where}: {_reason(exc)}", url), _ms(began))
                    conn.rollback()  # PostgreSQL refuses further statements in a failed transaction
    except Exception as exc:  # noqa: BLE001 - likewise for the store as a whole
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        view.error = connect_failure(where, cause, url, "database")
        view.connect_ms = _ms(start)
    finally:
        engine.dispose()
    return view


def _reason(exc: BaseException) -> str:
    return _db_error(exc) if isinstance(exc, SQLAlchemyError) else describe(exc)


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


# ---------------------------------------------------------------------------
# Comparison (pure)


def _mismatch(kind: str, path: str | None, expected: Any, actual: Any, message: str) -> dict[str, Any]:
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
        return [_mismatch("missing-table", base, f"table {name}", None, f"table {name} does not exist in {store}")]
    found: list[dict[str, Any]] = []
    pk = _lower(live.primary_key)
    for column, declared in spec.columns.items():
        path = f"{base}.columns.{column}"
        have = live.columns.get(column.lower())
        if have is None:
            found.append(_mismatch("missing-column", path, str(declared.type), None, f"column {name}.{column} does not exist"))
            continue
        problem = type_problem(declared.type, have.type)
        if problem:
            found.append(_mismatch("type", f"{path}.type", str(declared.type), have.type.display, f"column {name}.{column} {problem}"))
        nullable = have.nullable and column.lower() not in pk
        if declared.nullable is not None and declared.nullable != nullable:
            found.append(_mismatch("nullable", f"{path}.nullable", declared.nullable, nullable,
                                   f"column {name}.{column} is {'nullable' if nullable else 'NOT NULL'}, expected {'nullable' if declared.nullable else 'NOT NULL'}"))
    if spec.primary_key is not None and _lower(spec.primary_key) != pk:
        found.append(_mismatch("primary-key", f"{base}.primary_key", list(spec.primary_key), live.primary_key,
                               f"table {name} has primary key {_cols(live.primary_key) if pk else 'none'}, expected {_cols(spec.primary_key)}"))
    unique_sets = [sorted(_lower(u)) for u in live.unique] + [sorted(_lower(i["columns"])) for i in live.indexes if i["unique"]]
    if pk:
        unique_sets.append(sorted(pk))
    for index, columns in enumerate(spec.unique):
        if sorted(_lower(columns)) not in unique_sets:
            shown = sorted({tuple(u) for u in unique_sets})
            found.append(_mismatch("unique", f"{base}.unique[{index}]", list(columns), [list(u) for u in shown],
                                   f"table {name} has no unique constraint, unique index or primary key on {_cols(columns)}"))
    for index, fk in enumerate(spec.foreign_keys):
        if not any(_matches_fk(fk, have) for have in live.foreign_keys):
            found.append(_mismatch("foreign-key", f"{base}.foreign_keys[{index}]", str(fk), [_fk_text(f) for f in live.foreign_keys],
                                   f"table {name} has no foreign key {fk}"))
    candidates = [(_lower(i["columns"]), i["unique"]) for i in live.indexes] + [(_lower(u), True) for u in live.unique] + ([(pk, True)] if pk else [])
    for index, wanted in enumerate(spec.indexes):
        same = [unique for columns, unique in candidates if columns == _lower(wanted.columns)]
        kind = "" if wanted.unique is None else "unique " if wanted.unique else "non-unique "
        if not same or (wanted.unique is not None and wanted.unique not in same):
            actual = [{"columns": i["columns"], "unique": i["unique"]} for i in live.indexes]
            detail = f"only a {'unique' if same[0] else 'non-unique'} one" if same else "none"
            found.append(_mismatch("index", f"{base}.indexes[{index}]", {"columns": list(wanted.columns), "unique": wanted.unique}, actual,
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
                found.append(_mismatch("agreement", f"{path}.type", {label: str(declared.type)}, {other_label: str(their.type)},
                                       f"{label} declares {name}.{column} as {declared.type}, {other_label} as {their.type}"))
            if declared.nullable is not None and their.nullable is not None and declared.nullable != their.nullable:
                found.append(_mismatch("agreement", f"{path}.nullable", {label: declared.nullable}, {other_label: their.nullable},
                                       f"{label} declares {name}.{column} {'nullable' if declared.nullable else 'NOT NULL'}, "
                                       f"{other_label} {'nullable' if their.nullable else 'NOT NULL'}"))
        if spec.primary_key is not None and other.primary_key is not None and _lower(spec.primary_key) != _lower(other.primary_key):
            found.append(_mismatch("agreement", f"$.tables.{name}.primary_key", {label: list(spec.primary_key)}, {other_label: list(other.primary_key)},
                                   f"{label} declares the primary key of {name} as {_cols(spec.primary_key)}, {other_label} as {_cols(other.primary_key)}"))
    return found


# ---------------------------------------------------------------------------
# The contract kind


@dataclass(frozen=True)
class Entry:
    index: int
    contract: SchemaContract
    spec: SchemaSpec
    label: str  # the service, plus the file when the service has several entries for the store


def entries(ctx: RunContext) -> list[Entry]:
    """Every `[[contracts.schema]]` entry with its loaded spec; an unknown service or store, or a bad spec, is a UsageError."""
    declared: list[SchemaContract] = ctx.config.contracts.schema_
    config = str(ctx.loaded.path)
    problems = []
    for index, contract in enumerate(declared):
        if contract.service not in ctx.config.services:
            problems.append(Problem(config, f"service {contract.service!r} is not declared under [services]", key=f"contracts.schema[{index}].service"))
        if contract.store not in ctx.env.stores:
            problems.append(Problem(config, f"store {contract.store!r} is not defined in environment {ctx.env_name!r}", key=f"contracts.schema[{index}].store"))
    if problems:
        error = UsageError(problems[0])
        error.problems = problems
        raise error
    per_store: dict[tuple[str, str], int] = {}
    for contract in declared:
        per_store[(contract.service, contract.store)] = per_store.get((contract.service, contract.store), 0) + 1
    found = []
    for index, contract in enumerate(declared):
        label = contract.service if per_store[(contract.service, contract.store)] == 1 else f"{contract.service} ({contract.path})"
        found.append(Entry(index, contract, load_spec(ctx.loaded.resolve(contract.path)), label))
    return found


def _source(ctx: RunContext, path: Path) -> str:
    return path.relative_to(ctx.loaded.root).as_posix() if path.is_relative_to(ctx.loaded.root) else str(path)


def settings(ctx: RunContext) -> dict[str, Any] | None:
    """What contract-validation-config.json records of the schema checks."""
    if not ctx.config.contracts.schema_:
        return None
    found = entries(ctx)
    stores = sorted({e.contract.store for e in found})
    return {
        "inspector": "sqlalchemy.inspect (live reflection, one connection per store)", "sqlalchemy": sqlalchemy.__version__,
        "spec_version": SPEC_VERSION,
        "specs": [
            {"service": e.contract.service, "store": e.contract.store, "path": _source(ctx, e.spec.path), "sha256": e.spec.sha256, "tables": sorted(e.spec.tables)}
            for e in found
        ],
        "stores": {name: {"kind": ctx.env.stores[name].kind, "url": redact_url(ctx.expand(ctx.env.stores[name].url))} for name in stores},
        "connect_timeout_s": ctx.env.probe_timeout, "concurrency": max(1, len(stores)), "type_families": list(FAMILIES),
    }


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
                reason: str | None = view.error if view.error is not None else str(live)
                item.update(status="error", duration_ms=duration, mismatches=[_mismatch("error", None, None, None, f"not checked: {reason}")])
            else:
                found_ = compare_table(table, spec, live, f"{store} ({view.where})")
                item.update(status="fail" if found_ else "pass", duration_ms=duration, mismatches=found_)
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
                "provider_states": [], "status": "fail" if found_ else "pass", "duration_ms": 0.0, "mismatches": found_,
            })
        statuses = {i["status"] for i in items}
        status = "not_executed" if not items else "fail" if "fail" in statuses else "error" if "error" in statuses else "pass"
        reason = None if items else "the spec declares no tables: nothing was checked"
        if view.error is not None and items:
            reason = view.error
        out.append({
            "id": f"schema:{entry.label}->{store}", "kind": "schema", "consumer": entry.contract.service, "provider": store,
            "source": entry.contract.path, "specification": str(SPEC_VERSION), "status": status,
            "duration_ms": round(sum(i["duration_ms"] for i in items), 3), "reason": reason, "interactions": items,
        })
    return out


def verify(ctx: RunContext) -> list[dict[str, Any]]:
    """Inspect every store the specs name (stores side by side) and compare; one record per `[[contracts.schema]]` entry."""
    found = entries(ctx)
    wanted: dict[str, list[str]] = {}
    for entry in found:
        names = wanted.setdefault(entry.contract.store, [])
        names += [t for t in entry.spec.tables if t not in names]
    views: dict[str, StoreView] = {}
    ctx.emit(Progress("2.2", 0, len(wanted), "schema stores inspected"))
    if wanted:
        with ThreadPoolExecutor(max_workers=min(len(wanted), 8)) as pool:
            futures = {
                name: pool.submit(inspect_store, ctx.env.stores[name].kind, ctx.expand(ctx.env.stores[name].url), tables, ctx.env.probe_timeout)
                for name, tables in wanted.items()
            }
            for done, (name, future) in enumerate(futures.items(), 1):
                views[name] = future.result()
                ctx.emit(Progress("2.2", done, len(wanted), "schema stores inspected"))
    for entry in found:
        views.setdefault(entry.contract.store, StoreView(entry.contract.store))
    return records(found, views)
