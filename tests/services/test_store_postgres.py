"""The run history on this machine's real PostgreSQL: same schema, same answers, same report as SQLite.

Each test gets a private database with a unique name, dropped afterwards; the
server's configuration is never touched.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from interlock.report import build_model, render
from tests.sample import sample_history, sample_record, sample_test_ids, write_sample
from interlock.store import Store, load_run, open_store
from interlock.store.migrate import current_revision, head_revision
from interlock.store.schema import VERSION_TABLE, metadata

pytestmark = pytest.mark.services
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)
RECORDED = datetime(2026, 11, 2, tzinfo=timezone.utc)


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    """A fresh database of its own on the shared server (postgresql:// URL), dropped after the test."""
    name = f"interlock_store_{uuid.uuid4().hex[:12]}"
    admin = sa.make_url(postgres_url)
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _history(store: Store, tmp: Path) -> Path:
    """The same history for any backend: three artifact runs (pass, broken contract, pass on the same commit) and 24 synthetic runs."""
    sample_history(store, runs=24, tests=700, flaky=4)
    victim = sample_test_ids(8)[4]
    runs = [("a", 0, {}), ("b", 10, {"broken_contract": True, "failing_tests": [victim]}), ("c", 20, {})]
    for i, (name, minutes, extra) in enumerate(runs):
        folder = write_sample(tmp / name, run_id=name, tests=8, started_at=T0 + timedelta(days=400, minutes=minutes), **extra)  # type: ignore[arg-type]
        store.record(load_run(folder, git_commit="feedbeef"), recorded_at=RECORDED + timedelta(minutes=i))
    return tmp / "b"


def test_migrations_build_the_same_schema_on_postgres(pg_url: str) -> None:
    with open_store(pg_url, None) as store:
        assert store.dialect == "postgresql" and store.engine.url.drivername == "postgresql+psycopg"
        assert current_revision(store.engine) == head_revision()
        with store.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}), metadata) == []
            indexes = {i["name"]: i for i in sa.inspect(conn).get_indexes("interlock_results")}
            assert "outcome" in str(indexes["ix_interlock_results_unpassed"].get("dialect_options", {}))
    with open_store(pg_url.replace("postgresql://", "postgres://", 1), None) as again:  # postgres:// too; a no-op upgrade
        assert current_revision(again.engine) == head_revision()


def test_same_history_gives_the_same_report_on_postgres_and_sqlite(pg_url: str, tmp_path: Path) -> None:
    with open_store(pg_url, None) as pg, open_store(f"sqlite:///{tmp_path / 'h.db'}", tmp_path) as lite:
        artifacts = _history(pg, tmp_path / "pg-runs")
        _history(lite, tmp_path / "pg-runs")  # the very same artifact folders, written again
        assert pg.runs(100) == lite.runs(100)
        assert pg.trend(200) == lite.trend(200)
        assert pg.flaky(limit=None) == lite.flaky(limit=None) != []
        assert pg.results("b") == lite.results("b") and pg.defects("b") == lite.defects("b")
        assert build_model(pg, artifacts) == build_model(lite, artifacts)
        strip = lambda html: "\n".join(line for line in html.splitlines() if "data-generated-at" not in line)  # noqa: E731
        from_pg, from_lite = render(pg, artifacts), render(lite, artifacts)
        assert strip(from_pg) == strip(from_lite)
        assert 'data-edge="orders->catalog" data-status="fail"' in from_pg and "price_cents" in from_pg


def test_recording_is_idempotent_and_concurrent_writers_share_checks(pg_url: str) -> None:
    with open_store(pg_url, None) as store:
        first = sample_record(0, tests=300, commit="c0")
        store.record(first)
        store.record(first)
        assert [r.run_id for r in store.runs()] == ["run-00000"] and len(store.results("run-00000")) == 301
    errors: list[BaseException] = []

    def write(index: int) -> None:
        try:
            with open_store(pg_url, None) as own:  # each CI runner has its own connection pool
                own.record(sample_record(index, tests=300, commit=f"c{index}"))
        except BaseException as exc:  # noqa: BLE001 - collected for the assert
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with open_store(pg_url, None) as store:
        assert len(store.runs()) == 5
        with store.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM interlock_checks")).scalar() == 301


def test_concurrent_first_opens_migrate_once(pg_url: str) -> None:
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            open_store(pg_url, None).close()
        except BaseException as exc:  # noqa: BLE001 - collected for the assert
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with open_store(pg_url, None) as store, store.engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT count(*) FROM {VERSION_TABLE}")).scalar() == 1
