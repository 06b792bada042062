"""One SQLAlchemy Core engine per process, chosen by ``SHOP_DB_URL``.

The same ``text()`` SQL must run on SQLite (the default: the demo needs no
server) and on PostgreSQL (production-like runs), so the services only use
the subset both accept: plain types, ``ON CONFLICT``, named parameters.
Several processes share one SQLite file, hence WAL mode and a busy timeout.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, create_engine, event, text

from shop import ROOT

BUSY_TIMEOUT_MS = 30_000


def default_sqlite_url(name: str) -> str:
    """A SQLite URL for ``.run/<name>`` under examples/shop (created on demand)."""
    run_dir = ROOT / ".run"
    run_dir.mkdir(exist_ok=True)
    return f"sqlite:///{run_dir / name}"


def db_url() -> str:
    """The database URL from ``SHOP_DB_URL``, or the demo's SQLite file."""
    return os.environ.get("SHOP_DB_URL") or default_sqlite_url("shop.db")


def make_engine(url: str | None = None) -> Engine:
    """An engine for ``url`` (default ``SHOP_DB_URL``), tuned for shared SQLite files."""
    url = url or db_url()
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    return engine


def ping(engine: Engine) -> str | None:
    """``None`` when the database answers ``SELECT 1``, else the error text."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not healthy"
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None


def utc_now() -> str:
    """The current UTC time as ISO-8601 with milliseconds and a ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
