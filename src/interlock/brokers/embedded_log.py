"""The embedded message log: interlock's own broker-less transport, a SQLite file with table ``messages``.

The demo system publishes messages by appending rows to ``messages`` in a
shared SQLite file. The probe proves the file exists and has that table with
its columns; the capture remembers the newest id before the trigger and polls
for newer rows of the topic. Both open the file read-only, so that looking can
never create or change it.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Mapping
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote

from interlock.brokers.base import BrokerKind, Captured, CaptureFailed, gather
from interlock.checks import Check, describe, timed
from interlock.probes import redact_url

COLUMNS = ("id", "topic", "headers", "body", "published_at")


def _log_file(url: str) -> Path:
    """The log's file; ValueError for a URL that is not a SQLite file's."""
    from interlock.dburl import sqlite_file  # SQLAlchemy parses the URL; the registry must load without it

    return sqlite_file(url)


def _read_only(path: Path) -> str:
    """The SQLite URI that opens `path` read-only."""
    return f"file:{quote(str(path))}?mode=ro"


async def probe_embedded_log(check_id: str, url: str) -> Check:
    """Check ``sqlite:////abs/path/bus.db`` holds table ``messages``; details.messages is its row count."""
    check = Check(check_id, "embedded-log", redact_url(url))
    with timed(check):
        await asyncio.to_thread(_inspect, check, url)
    return check


def _inspect(check: Check, url: str) -> None:
    """Open the file read-only and look at the ``messages`` table."""
    try:
        path = _log_file(url)
    except ValueError as exc:
        check.fail(str(exc))
        return
    if not path.is_file():
        check.fail(f"message log {path} does not exist")
        return
    try:
        with closing(sqlite3.connect(_read_only(path.resolve()), uri=True, timeout=5)) as conn:
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


def _last_id(uri: str) -> int:
    """The newest message id; 0 when the log (file or table) does not exist yet."""
    try:
        with closing(sqlite3.connect(uri, uri=True, timeout=5)) as db:
            return int(db.execute("SELECT COALESCE(MAX(id), 0) FROM messages").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def _capture(url: str, topic: str, trigger: Callable[[], None], timeout: float, settle: float) -> list[Captured]:
    try:
        uri = _read_only(_log_file(url))
    except ValueError as exc:
        raise CaptureFailed(str(exc)) from None
    after = _last_id(uri)
    trigger()

    def poll() -> list[Captured]:
        nonlocal after
        try:
            with closing(sqlite3.connect(uri, uri=True, timeout=5)) as db:
                rows = db.execute("SELECT id, body, headers FROM messages WHERE id > ? AND topic = ? ORDER BY id", (after, topic)).fetchall()
        except sqlite3.OperationalError:
            return []  # not created yet: the producer may create it when it first publishes
        found = []
        for row_id, body, headers in rows:
            after = row_id
            try:
                parsed = json.loads(headers or "{}")
            except ValueError as exc:
                raise CaptureFailed(f"message {row_id} on the embedded log has headers that are not JSON: {exc}") from None
            if not isinstance(parsed, dict):
                raise CaptureFailed(f"message {row_id} on the embedded log has headers that are not a JSON object")
            found.append(Captured(body.encode("utf-8") if isinstance(body, str) else bytes(body or b""), parsed))
        return found

    return gather(poll, topic, timeout, settle, "the embedded log")


async def probe(check_id: str, broker: Mapping[str, Any], version_spec: str | None, timeout: float) -> Check:
    """The file and its table; its SQLite version is this interpreter's library's (see `observed_version`)."""
    return await probe_embedded_log(check_id, broker["url"])


def capture(broker: Mapping[str, Any], topic: str, trigger: Callable[[], None], timeout: float, settle: float) -> list[Captured]:
    """`topic` is the ``topic`` column."""
    return _capture(broker["url"], topic, trigger, timeout, settle)


def observed_version(check: Check | None) -> str:
    """The log is a SQLite file read through this interpreter's library: that library's version is the one in use."""
    return sqlite3.sqlite_version


KIND = BrokerKind("embedded-log", component="sqlite", default_port=None, probe=probe, capture=capture, observed_version=observed_version)
