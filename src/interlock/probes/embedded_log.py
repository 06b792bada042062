"""Embedded message log probe: interlock's own broker-less transport, a SQLite file.

The demo system publishes messages by appending rows to ``messages`` in a
shared SQLite file. The probe proves the file exists and has that table with
its columns, opening it read-only so that looking can never create or change it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from interlock.checks import Check, describe, timed
from interlock.probes import redact_url

COLUMNS = ("id", "topic", "headers", "body", "published_at")


async def probe_embedded_log(check_id: str, url: str) -> Check:
    """Check ``sqlite:////abs/path/bus.db`` holds table ``messages``; details.messages is its row count."""
    check = Check(check_id, "embedded-log", redact_url(url))
    with timed(check):
        await asyncio.to_thread(_inspect, check, url)
    return check


def _inspect(check: Check, url: str) -> None:
    """Open the file read-only and look at the ``messages`` table."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        check.fail(f"not a SQLite URL: {describe(exc)}")
        return
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        check.fail(f"not a SQLite file URL (sqlite:////abs/path/bus.db): {url}")
        return
    path = Path(parsed.database)
    if not path.is_file():
        check.fail(f"message log {path} does not exist")
        return
    try:
        with closing(sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, timeout=5)) as conn:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(messages)")}
            if not columns:
                check.fail(f"message log {path} has no table messages")
                return
            missing = [name for name in COLUMNS if name not in columns]
            if missing:
                check.fail(f"message log {path}: table messages lacks columns {', '.join(missing)}")
                return
            (count,) = conn.execute("SELECT COUNT(*) FROM messages").fetchone()
    except sqlite3.Error as exc:
        check.fail(f"message log {path}: {describe(exc)}")
        return
    check.ok(f"message log {path} has {count} messages", messages=count)
