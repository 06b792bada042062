"""Run history: every run's gates, checks and defects, in SQLite by default or PostgreSQL by URL.

    store = open_store(None, root)              # <root>/.interlock/history.db, or $INTERLOCK_STORE_URL
    store.record_run(artifacts_dir, run_id=..., environment=..., git_commit=..., started_at=..., finished_at=...)
    store.runs(20); store.flaky(); store.trend(200)

The schema is created and upgraded by the alembic migrations shipped in
`interlock/store/migrations` (run here, programmatically: no alembic.ini).
"""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import NoSuchModuleError, SQLAlchemyError

from interlock import dburl
from interlock.errors import Problem, UsageError
from interlock.store.db import History, Store
from interlock.store.migrate import upgrade
from interlock.store.records import (
    CheckResult, ConditionRecord, DefectRecord, FlakyCheck, GateRecord, RunRecord, RunSummary, TrendPoint, flaky_failures, load_run,
)

__all__ = [
    "ENV_VAR", "CheckResult", "ConditionRecord", "DefectRecord", "FlakyCheck", "GateRecord", "History", "RunRecord", "RunSummary", "Store",
    "TrendPoint", "default_path", "engine_url", "flaky_failures", "load_run", "open_store", "store_url",
]

ENV_VAR = "INTERLOCK_STORE_URL"


def default_path(root: Path) -> Path:
    """The embedded history of a system under test."""
    return root / ".interlock" / "history.db"


def store_url(url: str | None, root: Path) -> str:
    """The URL to use: the argument (config, command line), else `$INTERLOCK_STORE_URL`, else SQLite under `root`."""
    chosen = url or os.environ.get(ENV_VAR) or ""
    return chosen.strip() or f"sqlite:///{default_path(root).resolve()}"


def engine_url(url: str) -> sa.URL:
    """A SQLAlchemy URL (`interlock.dburl`): `postgresql://` and `postgres://` use psycopg 3; SQLite as given; nothing else."""
    try:
        kind = dburl.kind_of(url)
    except ValueError:
        raise UsageError(Problem(ENV_VAR, f"{url!r} is not a database URL; use sqlite:///PATH or postgresql://USER@HOST:PORT/DB")) from None
    if kind not in ("sqlite", "postgresql"):
        raise UsageError(Problem(ENV_VAR, f"history store {dburl.parse(url).render_as_string(hide_password=True)!r}: only sqlite:// and postgresql:// are supported"))
    return dburl.sqlalchemy_url(kind, url)


def open_store(url: str | None = None, root: Path | None = None) -> Store:
    """Open (creating or upgrading) the run history.

    `url` wins over `$INTERLOCK_STORE_URL`; without either the history is the
    SQLite file `<root>/.interlock/history.db` (root: the current directory).
    A database that cannot be reached or created is a usage error (exit 2).
    """
    target = engine_url(store_url(url, root or Path.cwd()))
    shown = target.render_as_string(hide_password=True)
    if target.get_backend_name() == "sqlite":
        if target.database and target.database != ":memory:":
            Path(target.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(target, connect_args={"timeout": 60})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    else:
        try:
            engine = sa.create_engine(target, pool_pre_ping=True)
        except NoSuchModuleError as exc:
            raise UsageError(Problem(shown, f"no driver for this URL: {exc}")) from None
    try:
        upgrade(engine, shown)
    except SQLAlchemyError as exc:
        engine.dispose()
        detail = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0]
        raise UsageError(Problem(shown, f"cannot open the history store: {detail}")) from None
    return Store(engine)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (a report) never block a writer (a run)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
