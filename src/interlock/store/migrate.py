"""Create or upgrade the history's tables with the alembic migrations shipped in this package.

No alembic.ini on the user's side: the configuration is built here and the
open connection is handed to `migrations/env.py`. Concurrent first runs (two
CI runners on one PostgreSQL, two shards on one SQLite file) are serialised by
a PostgreSQL advisory lock or a file lock beside the SQLite file.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from filelock import FileLock

from interlock.errors import Problem, UsageError
from interlock.store.schema import VERSION_TABLE

SCRIPT_LOCATION = "interlock.store:migrations"
_ADVISORY_KEY = 0x696E746C6B  # "intlk": one key for every interlock history in a PostgreSQL cluster


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def upgrade(engine: sa.Engine, where: str) -> None:
    """Bring the history at `engine` to the newest schema; a no-op when it is there already."""
    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    current = current_revision(engine)
    if current == head:
        return
    known = {rev.revision for rev in script.walk_revisions()}
    if current is not None and current not in known:
        raise UsageError(Problem(where, f"the history store has schema revision {current!r}, newer than this interlock knows (head {head!r}); upgrade interlock"))
    lock: AbstractContextManager[object] = nullcontext()
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        lock = FileLock(str(Path(engine.url.database)) + ".migrate.lock", timeout=120)
    with lock, engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_KEY})
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
