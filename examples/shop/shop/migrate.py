"""``python -m shop.migrate``: apply ``migrations/NNNN_name.sql`` in order, once each.

Plain SQL files rather than a migration framework: they run unchanged on
SQLite and PostgreSQL, and they are the "migration scripts" the protocol's
scope phase lists as inputs. Each file runs in one transaction together with
its ``schema_migrations`` row, so a failed file leaves nothing half-applied on
PostgreSQL and is retried on the next run.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from sqlalchemy import Engine, text

from shop import ROOT
from shop.db import make_engine, utc_now

MIGRATIONS_DIR = ROOT / "migrations"
FILE_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migration_files(folder: Path = MIGRATIONS_DIR) -> list[tuple[str, Path]]:
    """(version, path) of every migration file, in version order."""
    found = [(m.group(1), path) for path in folder.iterdir() if (m := FILE_NAME.match(path.name))]
    return sorted(found)


def statements(sql: str) -> list[str]:
    """The statements of one file: ``--`` comment lines dropped, split on ``;``."""
    kept = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    return [part.strip() for part in kept.split(";") if part.strip()]


def migrate(engine: Engine) -> list[str]:
    """Apply what is missing; returns the versions applied by this call."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS schema_migrations"
                          " (version TEXT PRIMARY KEY, applied_at TEXT)"))
        done = set(conn.execute(text("SELECT version FROM schema_migrations")).scalars())
    applied = []
    for version, path in migration_files():
        if version in done:
            continue
        with engine.begin() as conn:
            for statement in statements(path.read_text(encoding="utf-8")):
                conn.execute(text(statement))
            conn.execute(text("INSERT INTO schema_migrations (version, applied_at) VALUES (:v, :t)"),
                         {"v": version, "t": utc_now()})
        applied.append(version)
        print(f"applied {path.name}", file=sys.stderr)
    return applied


def main() -> None:
    """Migrate the database of ``SHOP_DB_URL``."""
    engine = make_engine()
    applied = migrate(engine)
    engine.dispose()
    print(f"migrations: {len(applied)} applied, schema up to date", file=sys.stderr)


if __name__ == "__main__":
    main()
