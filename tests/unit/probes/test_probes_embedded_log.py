"""The embedded message log probe on temporary SQLite files."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

from interlock.checks import Check
from interlock.brokers.embedded_log import probe_embedded_log

SCHEMA = "CREATE TABLE messages (id INTEGER PRIMARY KEY, topic TEXT, headers TEXT, body BLOB, published_at TEXT)"


def make_log(path: Path, schema: str = SCHEMA, rows: int = 0) -> Path:
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(schema)
        for i in range(rows):
            conn.execute("INSERT INTO messages (topic, headers, body, published_at) VALUES ('t', '{}', 'b', ?)", (i,))
    return path


def probe(path: Path) -> Check:
    return asyncio.run(probe_embedded_log("bus", f"sqlite:///{path}"))


def test_a_log_with_its_table_passes_and_counts_messages(tmp_path: Path) -> None:
    check = probe(make_log(tmp_path / "bus.db", rows=2))
    assert (check.kind, check.status, check.details) == ("embedded-log", "pass", {"messages": 2})
    assert check.target == f"sqlite:///{tmp_path / 'bus.db'}"


def test_a_missing_file_fails_and_is_not_created(tmp_path: Path) -> None:
    check = probe(tmp_path / "absent.db")
    assert (check.status, check.reason) == ("fail", f"message log {tmp_path / 'absent.db'} does not exist")
    assert not (tmp_path / "absent.db").exists()


def test_a_file_without_the_table_or_its_columns_fails(tmp_path: Path) -> None:
    no_table = probe(make_log(tmp_path / "a.db", schema="CREATE TABLE other (id INTEGER)"))
    assert no_table.reason == f"message log {tmp_path / 'a.db'} has no table messages"
    old = probe(make_log(tmp_path / "b.db", schema="CREATE TABLE messages (id INTEGER, topic TEXT, body BLOB)"))
    assert old.reason == f"message log {tmp_path / 'b.db'}: table messages lacks columns headers, published_at"


def test_a_file_that_is_not_sqlite_fails(tmp_path: Path) -> None:
    path = tmp_path / "bus.db"
    path.write_bytes(b"not a database, just bytes" * 100)
    check = probe(path)
    assert check.status == "fail"
    assert check.reason.startswith(f"message log {path}: DatabaseError: ")


def test_a_url_that_is_not_sqlite_fails() -> None:
    check = asyncio.run(probe_embedded_log("bus", "postgresql://h/db"))
    assert check.reason == "not a SQLite file URL (sqlite:////abs/path/bus.db): postgresql://h/db"
