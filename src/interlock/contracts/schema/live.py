"""The live database: each store reflected over one connection with SQLAlchemy's inspector, types sorted into families."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import inspect
from sqlalchemy import types as sqltypes
from sqlalchemy.engine import Inspector
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from interlock.checks import describe
from interlock.probes import connect_failure, redact_url, scrub
from interlock.dburl import open_engine
from interlock.probes.sql import _db_error


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
    foreign_keys = inspector.get_foreign_keys(real, schema=schema_)
    # SQLite: its automatic indexes are the reliable record of inline UNIQUE columns (SQLAlchemy's
    # get_unique_constraints misses `sku VARCHAR(20) UNIQUE`: it cannot parse a type with a size there).
    options = {"include_auto_indexes": True} if dialect.name == "sqlite" else {}
    indexes = [
        {"columns": [c if c is not None else "(expression)" for c in i["column_names"]], "unique": bool(i.get("unique"))}
        for i in inspector.get_indexes(real, schema=schema_, **options)
    ]
    return LiveTable(real, columns, primary_key, unique, [dict(fk) for fk in foreign_keys], indexes)


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
        engine, where = open_engine(kind, url, timeout=timeout)  # type: ignore[arg-type]
    except ValueError as exc:
        return StoreView(redact_url(url), scrub(str(exc), url), connect_ms=_ms(start))
    except Exception as exc:  # noqa: BLE001 - an unparsable URL is a reason, not a crash
        return StoreView(redact_url(url), scrub(f"bad store URL {redact_url(url)}: {describe(exc)}", url), connect_ms=_ms(start))
    view = StoreView(where)
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
