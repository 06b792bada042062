"""SQL store probe: reachable at the right version, migrated, extended and seeded.

One connection answers every question about a store, so the probe returns a
list of checks: ``{id}`` (reachable, server version), ``{id}.migrations``,
``{id}.extensions`` (PostgreSQL), ``{id}.table.{name}`` per seeded table and
``{id}.checksum.{name}`` per table whose content is compared with its dataset.
When the store cannot be reached, every asked-for check is still reported, as
failed: a check that did not run is never a pass. SQLAlchemy's engines are
synchronous, so the work runs in a thread; connect timeouts bound that thread.

Content checksums must agree on SQLite, PostgreSQL and MariaDB, whose drivers
hand back the same row as different Python types (``Decimal('1299.00')``,
``1299``, ``'1299'``; ``True`` or ``1``). Every value, from the store or from the
CSV file, is therefore first made text by one rule (`normalise`), rows are put
in one order computed here rather than by the server's collation, and the
SHA-256 is taken over those rows.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, column, func, inspect, select, table, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from interlock.checks import Check, describe, timed
from interlock.dburl import StoreKind, open_engine
from interlock.probes import connect_failure, redact_url, scrub, version_problem

SubCheck = Callable[[Check, Connection, str], None]

_VERSION_SQL = {"sqlite": "SELECT sqlite_version()", "postgresql": "SHOW server_version", "mysql": "SELECT VERSION()"}
_MIGRATION_FILE = re.compile(r"^\d+_.+\.sql$")
# A number as a person or a driver writes it: no leading zeros (so codes like "007" stay text), optional fraction.
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?")
_BOOLEANS = {"true": "1", "false": "0"}


def _number_text(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros; an integral one without decimals (``1299.00`` → ``1299``)."""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def normalise(value: Any) -> str:
    """One value as the text both sides of a checksum agree on.

    NULL and the empty string are ``""``; numbers in canonical decimal text
    (``Decimal('1299.00')``, ``1299.0``, ``'1299'`` and ``1299`` are all ``1299``);
    booleans ``1``/``0`` (what SQLite and MariaDB store; the texts ``true``/``false``
    too); dates and times in ISO form with a space before the time; bytes as
    UTF-8; every other string as is. Text that looks like a number or a boolean
    is read as one on both sides, so the comparison stays symmetric.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return repr(value)
        return _number_text(Decimal(repr(value)))
    if isinstance(value, Decimal):
        return _number_text(value) if value.is_finite() else str(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="backslashreplace")
    text_value = str(value)
    if _NUMBER.fullmatch(text_value):
        try:
            return _number_text(Decimal(text_value))
        except InvalidOperation:  # pragma: no cover - the pattern only admits valid decimals
            return text_value
    return _BOOLEANS.get(text_value, text_value)


def _sort_key(row: tuple[str, ...]) -> tuple[tuple[int, Decimal | int, str], ...]:
    """Order of normalised rows: by the first column, then the rest; empty first, numbers by value, then text by code point.

    Computed here, not by ``ORDER BY``, because servers sort text by their own
    collations and numbers stored as text as text.
    """
    key: list[tuple[int, Decimal | int, str]] = []
    for cell in row:
        if not cell:
            key.append((0, 0, ""))
        elif _NUMBER.fullmatch(cell):
            key.append((1, Decimal(cell), cell))
        else:
            key.append((2, 0, cell))
    return tuple(key)


def _row_bytes(row: tuple[str, ...]) -> bytes:
    return json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


@dataclass(frozen=True)
class TableContent:
    """A table's content over some columns: normalised rows in checksum order, each with where it came from."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    origins: tuple[str, ...]  # "line 3" of a file, or "" for rows read from a store
    source: str = ""

    @classmethod
    def of(cls, columns: Sequence[str], rows: Iterable[Sequence[Any]], origins: Iterable[str] | None = None, source: str = "") -> TableContent:
        """Normalise and order `rows` (each as long as `columns`)."""
        normalised = [tuple(normalise(v) for v in row) for row in rows]
        where = list(origins) if origins is not None else [""] * len(normalised)
        pairs = sorted(zip(normalised, where), key=lambda pair: _sort_key(pair[0]))
        return cls(tuple(columns), tuple(r for r, _ in pairs), tuple(o for _, o in pairs), source)

    @property
    def sha256(self) -> str:
        """SHA-256 over the rows, one compact JSON array of texts per line."""
        digest = hashlib.sha256()
        for row in self.rows:
            digest.update(_row_bytes(row))
        return digest.hexdigest()


def first_difference(store: TableContent, expected: TableContent) -> str | None:
    """The first row, in checksum order, where the store's content and the expected content part; None when equal."""
    for index in range(max(len(store.rows), len(expected.rows))):
        got = store.rows[index] if index < len(store.rows) else None
        want = expected.rows[index] if index < len(expected.rows) else None
        if got == want:
            continue
        first = expected.columns[0] if expected.columns else "row"
        where = f" ({expected.origins[index]} of {expected.source})" if want is not None and expected.origins[index] and expected.source else ""
        if got is not None and want is not None and got[0] == want[0]:
            return f"row {first}={want[0]}{where} differs: store has {_show(got)}, file has {_show(want)}"
        if want is not None and (got is None or _sort_key(want) < _sort_key(got)):
            return f"row {first}={want[0]}{where} is missing from the store: file has {_show(want)}"
        if got is not None:
            return f"row {first}={got[0]} is in the store but not in the file: store has {_show(got)}"
    return None


def _show(row: tuple[str, ...], limit: int = 300) -> str:
    text_value = json.dumps(row, ensure_ascii=False)
    return text_value if len(text_value) <= limit else text_value[: limit - 1] + "…"


async def probe_store(
    check_id: str,
    kind: StoreKind,
    url: str,
    *,
    timeout: float,
    migrations_dir: Path | None = None,
    migrations_table: str = "schema_migrations",
    version_spec: str | None = None,
    extensions: Sequence[str] = (),
    tables: Mapping[str, int | None] | None = None,
    checksums: Mapping[str, TableContent] | None = None,
) -> list[Check]:
    """Probe one SQL store.

    `tables` maps a table to its expected row count (``None``: any);
    `checksums` maps a table to the content it must hold over the content's columns.
    """
    target = redact_url(url)
    main = Check(check_id, kind, target)
    subs: list[tuple[Check, SubCheck]] = []
    if migrations_dir is not None:
        job = partial(_check_migrations, folder=migrations_dir, table_name=migrations_table)
        subs.append((Check(f"{check_id}.migrations", "migrations", target), job))
    if extensions:
        job = partial(_check_extensions, required=extensions)
        subs.append((Check(f"{check_id}.extensions", "extensions", target), job))
    for name, rows in (tables or {}).items():
        job = partial(_check_table, table_name=name, expected_rows=rows)
        subs.append((Check(f"{check_id}.table.{name}", "dataset", target), job))
    for name, content in (checksums or {}).items():
        job = partial(_check_checksum, table_name=name, expected=content)
        subs.append((Check(f"{check_id}.checksum.{name}", "checksum", target), job))
    with timed(main):
        await asyncio.to_thread(_probe, main, subs, kind, url, timeout, version_spec)
    return [main, *(check for check, _ in subs)]


def _probe(
    main: Check, subs: list[tuple[Check, SubCheck]], kind: StoreKind, url: str, timeout: float, version_spec: str | None
) -> None:
    """Fill in the main check and then each follow-up check, all over one connection."""
    try:
        engine, where = open_engine(kind, url, timeout=timeout)
    except ValueError as exc:
        _fail_all(main, subs, str(exc))
        return
    try:
        with engine.connect() as conn:
            version = str(conn.execute(text(_VERSION_SQL[kind])).scalar())
            problem = version_problem(version, version_spec)
            if problem:
                main.fail(f"{where}: {problem}", server_version=version)
            else:
                main.ok(f"{where}: {kind} {version}", server_version=version)
            for check, job in subs:
                with timed(check):
                    try:
                        job(check, conn, where)
                    except SQLAlchemyError as exc:
                        check.fail(scrub(f"{where}: {_db_error(exc)}", url))
                        conn.rollback()  # PostgreSQL refuses further statements in a failed transaction
    except SQLAlchemyError as exc:
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        _fail_all(main, [(c, j) for c, j in subs if c.reason is None], connect_failure(where, cause, url, "database"))
    finally:
        engine.dispose()


def _check_migrations(check: Check, conn: Connection, where: str, folder: Path, table_name: str) -> None:
    """Every ``NNNN_*.sql`` file in `folder` must be recorded in the migrations table, by stem or by number.

    Tools differ: some record the whole stem (``0001_products``), Flyway-style
    runners only the number (``0001``); either counts as applied.
    """
    if not folder.is_dir():
        check.fail(f"migrations folder {folder} does not exist")
        return
    expected = sorted(p.stem for p in folder.iterdir() if _MIGRATION_FILE.match(p.name))
    if not expected:
        check.fail(f"migrations folder {folder} has no NNNN_*.sql files")
        return
    schema, _, name = table_name.rpartition(".")
    if not inspect(conn).has_table(name, schema=schema or None):
        check.fail(f"{where}: migrations table {table_name} does not exist", expected=expected)
        return
    versions = table(name, column("version"), schema=schema or None)
    applied = {str(v) for v in conn.execute(select(versions.c.version)).scalars()}
    missing = [v for v in expected if v not in applied and v.split("_", 1)[0] not in applied]
    if missing:
        check.fail(f"{where}: not recorded in {table_name}: {', '.join(missing)}", expected=expected, missing=missing)
    else:
        check.ok(f"{where}: all {len(expected)} migrations recorded in {table_name}", expected=expected)


def _check_extensions(check: Check, conn: Connection, where: str, required: Sequence[str]) -> None:
    """Every required PostgreSQL extension must be installed (``CREATE EXTENSION``) in the database."""
    if conn.dialect.name != "postgresql":
        check.fail(f"{where}: extensions are a PostgreSQL feature, this is {conn.dialect.name}")
        return
    rows = conn.execute(text("SELECT extname, extversion FROM pg_extension"))
    installed = {name: version for name, version in rows}
    missing = [name for name in required if name not in installed]
    if missing:
        check.fail(f"{where}: extensions not installed: {', '.join(missing)}", installed=installed)
    else:
        check.ok(f"{where}: extensions installed: {', '.join(required)}", installed=installed)


def _check_table(check: Check, conn: Connection, where: str, table_name: str, expected_rows: int | None) -> None:
    """The seeded table exists and, when a count is expected, holds exactly that many rows."""
    schema, _, name = table_name.rpartition(".")
    if not inspect(conn).has_table(name, schema=schema or None):
        check.fail(f"{where}: table {table_name} does not exist")
        return
    rows = conn.execute(select(func.count()).select_from(table(name, schema=schema or None))).scalar_one()
    if expected_rows is not None and rows != expected_rows:
        check.fail(f"{where}: table {table_name} has {rows} rows, expected {expected_rows}", rows=rows)
    else:
        check.ok(f"{where}: table {table_name} has {rows} rows", rows=rows)


def read_content(conn: Connection, table_name: str, columns: Sequence[str]) -> TableContent:
    """`columns` of every row of `table_name`, selected ordered by the first column, normalised and ordered for the checksum."""
    schema, _, name = table_name.rpartition(".")
    source = table(name, *(column(c) for c in columns), schema=schema or None)
    result = conn.execute(select(*(source.c[c] for c in columns)).order_by(source.c[columns[0]]))
    return TableContent.of(columns, result, source=table_name)


def _check_checksum(check: Check, conn: Connection, where: str, table_name: str, expected: TableContent) -> None:
    """The table holds exactly the expected rows over the expected columns, compared by SHA-256 of the normalised rows."""
    schema, _, name = table_name.rpartition(".")
    details: dict[str, Any] = {"expected_sha256": expected.sha256, "columns": list(expected.columns), "source": expected.source}
    if not expected.columns:
        check.fail(f"{expected.source or 'the dataset'} names no columns", **details)
        return
    inspector = inspect(conn)
    if not inspector.has_table(name, schema=schema or None):
        check.fail(f"{where}: table {table_name} does not exist", **details)
        return
    # The CSV header may spell a column in another case than the server folds it to (PostgreSQL: lower case).
    present = {c["name"].lower(): c["name"] for c in inspector.get_columns(name, schema=schema or None)}
    missing = [c for c in expected.columns if c.lower() not in present]
    if missing:
        check.fail(f"{where}: table {table_name} has no column {', '.join(missing)} (named in {expected.source or 'the dataset'})", **details)
        return
    found = read_content(conn, table_name, [present[c.lower()] for c in expected.columns])
    details.update(sha256=found.sha256, rows=len(found.rows))
    difference = first_difference(found, expected)
    if difference is None:
        check.ok(f"{where}: table {table_name} matches {expected.source or 'the dataset'} (sha256 {found.sha256[:12]}…, {len(found.rows)} rows)", **details)
    else:
        check.fail(f"{where}: table {table_name} differs from {expected.source or 'the dataset'}: {difference}", first_difference=difference, **details)


def _db_error(exc: SQLAlchemyError) -> str:
    """The driver's own error line: SQLAlchemy's wrapper adds only its class name and a help link."""
    return describe(exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc)


def _fail_all(main: Check, subs: list[tuple[Check, SubCheck]], reason: str) -> None:
    """The store could not be asked: it fails (unless already judged), and so does every check that never ran."""
    if main.reason is None:
        main.fail(reason)
    for check, _ in subs:
        check.fail(f"not checked: {reason}")
