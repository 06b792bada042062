"""SQL store probe: reachable at the right version, migrated, extended and seeded.

One connection answers every question about a store, so the probe returns a
list of checks: ``{id}`` (reachable, server version), ``{id}.migrations``,
``{id}.extensions`` (PostgreSQL) and ``{id}.table.{name}`` per seeded table.
When the store cannot be reached, every asked-for check is still reported, as
failed: a check that did not run is never a pass. SQLAlchemy's engines are
synchronous, so the work runs in a thread; connect timeouts bound that thread.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Literal

from sqlalchemy import Connection, column, create_engine, func, inspect, select, table, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from interlock.checks import Check, describe, timed
from interlock.probes import host_port, redact_url, scrub, version_problem

StoreKind = Literal["sqlite", "postgresql", "mysql"]
SubCheck = Callable[[Check, Connection, str], None]

_DRIVERS = {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql"}
_SCHEMES = {"sqlite": {"sqlite"}, "postgresql": {"postgresql", "postgres"}, "mysql": {"mysql", "mariadb"}}
_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}
_VERSION_SQL = {"sqlite": "SELECT sqlite_version()", "postgresql": "SHOW server_version", "mysql": "SELECT VERSION()"}
_MIGRATION_FILE = re.compile(r"^\d+_.+\.sql$")


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
) -> list[Check]:
    """Probe one SQL store; `tables` maps a table to its expected row count (``None``: any)."""
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
    with timed(main):
        await asyncio.to_thread(_probe, main, subs, kind, url, timeout, version_spec)
    return [main, *(check for check, _ in subs)]


def _probe(
    main: Check, subs: list[tuple[Check, SubCheck]], kind: StoreKind, url: str, timeout: float, version_spec: str | None
) -> None:
    """Fill in the main check and then each follow-up check, all over one connection."""
    try:
        sa_url, where = _engine_url(kind, url)
    except ValueError as exc:
        _fail_all(main, subs, str(exc))
        return
    engine = create_engine(sa_url, poolclass=NullPool, connect_args=_connect_args(kind, timeout))
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
        _fail_all(main, [(c, j) for c, j in subs if c.reason is None], scrub(f"{where}: {_db_error(exc)}", url))
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


def _engine_url(kind: StoreKind, url: str) -> tuple[URL | str, str]:
    """The SQLAlchemy URL with our driver, and where it points (host:port/db or the SQLite path)."""
    parsed = make_url(url)
    scheme = parsed.drivername.split("+", 1)[0]
    if scheme not in _SCHEMES[kind]:
        raise ValueError(f"URL scheme {scheme!r} is not a {kind} URL: {redact_url(url)}")
    if kind == "sqlite":
        path = Path(parsed.database or "")
        if not parsed.database or not path.is_file():
            raise ValueError(f"SQLite database file {parsed.database or '(none)'} does not exist")
        # mode=rw: never let a probe create the file it is meant to find
        return f"sqlite:///file:{path.resolve()}?mode=rw&uri=true", str(path)
    where = f"{host_port(url, _DEFAULT_PORTS[kind])}/{parsed.database or ''}"
    return parsed.set(drivername=_DRIVERS[kind]), where


def _connect_args(kind: StoreKind, timeout: float) -> dict[str, float | int]:
    """Driver options that bound how long a connect (and, for MySQL, a read) may hang."""
    if kind == "postgresql":
        return {"connect_timeout": max(2, math.ceil(timeout))}  # libpq: whole seconds, at least 2
    if kind == "mysql":
        return {"connect_timeout": timeout, "read_timeout": timeout, "write_timeout": timeout}
    return {"timeout": timeout}


def _db_error(exc: SQLAlchemyError) -> str:
    """The driver's own error line: SQLAlchemy's wrapper adds only its class name and a help link."""
    return describe(exc.orig if isinstance(exc, DBAPIError) else exc)


def _fail_all(main: Check, subs: list[tuple[Check, SubCheck]], reason: str) -> None:
    """The store could not be asked: it fails (unless already judged), and so does every check that never ran."""
    if main.reason is None:
        main.fail(reason)
    for check, _ in subs:
        check.fail(f"not checked: {reason}")
