"""The one place a config URL becomes a database connection (SQLAlchemy URL, driver, connect timeouts).

A store's URL in `interlock.toml` is written the way its users write it
(``postgresql://``, ``postgres://``, ``mysql://``, ``mariadb://``,
``sqlite:///path``); interlock talks to it through SQLAlchemy with its own
drivers (psycopg 3, PyMySQL). The store probe, the schema contracts, the
provider-state SQL actions, the embedded message log and the run history all
convert here, so a URL means the same database to each of them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import NullPool

from interlock.checks import describe
from interlock.urls import host_port, redact_url

StoreKind = Literal["sqlite", "postgresql", "mysql"]

DRIVERS = {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql"}
SCHEMES: dict[StoreKind, set[str]] = {"sqlite": {"sqlite"}, "postgresql": {"postgresql", "postgres"}, "mysql": {"mysql", "mariadb"}}
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}


def parse(url: str) -> URL:
    """The URL as SQLAlchemy reads it; ValueError (password masked) when it is not a database URL."""
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise ValueError(f"bad store URL {redact_url(url)}: {describe(exc)}") from None


def kind_of(url: str) -> StoreKind | None:
    """The store kind a URL's scheme names (None: a scheme interlock has no driver for); ValueError when not a URL."""
    scheme = parse(url).drivername.split("+", 1)[0]
    return next((kind for kind, schemes in SCHEMES.items() if scheme in schemes), None)


def sqlite_file(url: str) -> Path:
    """The file of a ``sqlite:///PATH`` URL; ValueError for any other URL."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValueError(f"not a SQLite URL: {describe(exc)}") from None
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        raise ValueError(f"not a SQLite file URL (sqlite:////abs/path/bus.db): {url}")
    return Path(parsed.database)


def sqlalchemy_url(kind: StoreKind, url: str) -> URL:
    """The URL with interlock's driver for `kind` (psycopg 3, PyMySQL; SQLite as written); ValueError for another kind's URL."""
    parsed = parse(url)
    scheme = parsed.drivername.split("+", 1)[0]
    if scheme not in SCHEMES[kind]:
        raise ValueError(f"URL scheme {scheme!r} is not a {kind} URL: {redact_url(url)}")
    return parsed.set(drivername=DRIVERS[kind]) if kind in DRIVERS else parsed


def engine_url(kind: StoreKind, url: str, *, existing: bool = True) -> tuple[URL | str, str]:
    """`sqlalchemy_url`, and where it points (host:port/db, or the SQLite path).

    With `existing`, a SQLite file must already exist and is opened ``mode=rw``,
    so that looking (a probe, a schema contract) never creates the file it is
    meant to find.
    """
    target = sqlalchemy_url(kind, url)
    if kind != "sqlite":
        return target, f"{host_port(url, DEFAULT_PORTS[kind])}/{target.database or ''}"
    if not existing:
        return target, target.database or ":memory:"
    path = Path(target.database or "")
    if not target.database or not path.is_file():
        raise ValueError(f"SQLite database file {target.database or '(none)'} does not exist")
    return f"sqlite:///file:{path.resolve()}?mode=rw&uri=true", str(path)


def connect_args(kind: StoreKind, timeout: float) -> dict[str, float | int]:
    """Driver options that bound how long a connect (and, for MySQL, a read) may hang."""
    if kind == "postgresql":
        return {"connect_timeout": max(2, math.ceil(timeout))}  # libpq: whole seconds, at least 2
    if kind == "mysql":
        return {"connect_timeout": timeout, "read_timeout": timeout, "write_timeout": timeout}
    return {"timeout": timeout}


def open_engine(kind: StoreKind, url: str, *, timeout: float | None = None, existing: bool = True) -> tuple[Engine, str]:
    """An engine on the store (no pool: one short job per call) and where it points; ValueError for a bad URL.

    `timeout` bounds each connect; None leaves the driver's own default.
    """
    target, where = engine_url(kind, url, existing=existing)
    options = connect_args(kind, timeout) if timeout is not None else {}
    return create_engine(target, poolclass=NullPool, connect_args=options), where
