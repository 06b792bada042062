"""`probe_store` against the real PostgreSQL and MariaDB of this machine, and a SQLite file.

Each test seeds its own uniquely named tables (so parallel runs cannot clash)
and drops them afterwards; the shared servers are never reconfigured.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from interlock.checks import Check
from interlock.probes.sql import probe_store

pytestmark = pytest.mark.services

DRIVERS = {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql", "sqlite": "sqlite"}
VERSION_SPECS = {"postgresql": ">=12", "mysql": ">=10", "sqlite": ">=3"}


@dataclass
class Seeded:
    kind: Any
    url: str
    rows_table: str  # holds 3 rows
    migrations_table: str  # records 0001_products and 0002_orders
    migrations_dir: Path  # holds 0001_products.sql, 0002_orders.sql and a README

    def probe(self, **options: Any) -> dict[str, Check]:
        options = {"timeout": 3.0, **options}
        return {c.id: c for c in asyncio.run(probe_store("db", self.kind, self.url, **options))}


@pytest.fixture(params=["postgresql", "mysql", "sqlite"])
def seeded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Seeded]:
    kind = request.param
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue("postgres_url" if kind == "postgresql" else "mysql_url")
    suffix = uuid.uuid4().hex[:12]
    rows, migrations = f"interlock_rows_{suffix}", f"interlock_migrations_{suffix}"
    engine = create_engine(make_url(url).set(drivername=DRIVERS[kind]))
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {rows} (id INTEGER PRIMARY KEY)"))
        conn.execute(text(f"INSERT INTO {rows} (id) VALUES (1), (2), (3)"))
        conn.execute(text(f"CREATE TABLE {migrations} (version VARCHAR(64) PRIMARY KEY)"))
        conn.execute(text(f"INSERT INTO {migrations} (version) VALUES ('0001_products'), ('0002_orders')"))
    folder = tmp_path / "migrations"
    folder.mkdir()
    for name in ("0001_products.sql", "0002_orders.sql", "README.md"):
        (folder / name).write_text("-- applied by the test fixture\n")
    yield Seeded(kind, url, rows, migrations, folder)
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {rows}"))
        conn.execute(text(f"DROP TABLE IF EXISTS {migrations}"))
    engine.dispose()


def test_a_migrated_seeded_store_passes(seeded: Seeded) -> None:
    extensions = ["plpgsql"] if seeded.kind == "postgresql" else []
    checks = seeded.probe(
        version_spec=VERSION_SPECS[seeded.kind],
        migrations_dir=seeded.migrations_dir,
        migrations_table=seeded.migrations_table,
        extensions=extensions,
        tables={seeded.rows_table: 3},
    )
    expected_ids = ["db", "db.migrations", *(["db.extensions"] if extensions else []), f"db.table.{seeded.rows_table}"]
    assert list(checks) == expected_ids
    assert [c.status for c in checks.values()] == ["pass"] * len(expected_ids), [c.reason for c in checks.values()]
    assert checks["db"].kind == seeded.kind
    assert checks["db"].details["server_version"][0].isdigit()
    assert checks["db.migrations"].kind == "migrations"
    assert checks["db.migrations"].details["expected"] == ["0001_products", "0002_orders"]
    table = checks[f"db.table.{seeded.rows_table}"]
    assert (table.kind, table.details["rows"]) == ("dataset", 3)


def test_a_migration_file_not_recorded_fails_naming_it(seeded: Seeded) -> None:
    (seeded.migrations_dir / "0003_payments.sql").write_text("-- never applied\n")
    check = seeded.probe(migrations_dir=seeded.migrations_dir, migrations_table=seeded.migrations_table)[
        "db.migrations"
    ]
    assert check.status == "fail"
    assert f"not recorded in {seeded.migrations_table}: 0003_payments" in check.reason
    assert check.details["missing"] == ["0003_payments"]


def test_a_missing_migrations_table_fails(seeded: Seeded) -> None:
    absent = f"{seeded.migrations_table}_absent"
    check = seeded.probe(migrations_dir=seeded.migrations_dir, migrations_table=absent)["db.migrations"]
    assert check.status == "fail"
    assert f"migrations table {absent} does not exist" in check.reason


def test_a_missing_table_and_a_wrong_row_count_fail(seeded: Seeded) -> None:
    absent = f"{seeded.rows_table}_absent"
    checks = seeded.probe(tables={seeded.rows_table: 4, absent: None})
    assert checks["db"].status == "pass"
    wrong = checks[f"db.table.{seeded.rows_table}"]
    assert wrong.status == "fail"
    assert f"table {seeded.rows_table} has 3 rows, expected 4" in wrong.reason
    assert wrong.details["rows"] == 3
    missing = checks[f"db.table.{absent}"]
    assert missing.status == "fail"
    assert f"table {absent} does not exist" in missing.reason


def test_a_wrong_server_version_fails_but_the_other_checks_still_run(seeded: Seeded) -> None:
    checks = seeded.probe(version_spec="<1", tables={seeded.rows_table: 3})
    main = checks["db"]
    assert main.status == "fail"
    assert f"server version {main.details['server_version']} does not match <1" in main.reason
    assert checks[f"db.table.{seeded.rows_table}"].status == "pass"


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_a_wrong_port_fails_fast_naming_the_port(
    kind: str, request: pytest.FixtureRequest, closed_port: int, tmp_path: Path
) -> None:
    url = make_url(request.getfixturevalue("postgres_url" if kind == "postgresql" else "mysql_url"))
    bad = url.set(port=closed_port).render_as_string(hide_password=False)
    start = time.perf_counter()
    checks = asyncio.run(probe_store("db", kind, bad, timeout=3.0, migrations_dir=tmp_path, tables={"t": 1}))
    assert time.perf_counter() - start < 3.0
    assert [c.status for c in checks] == ["fail", "fail", "fail"]
    assert f"127.0.0.1:{closed_port}/test" in checks[0].reason
    assert "refused" in checks[0].reason.lower()
    assert checks[1].reason.startswith("not checked: ") and checks[2].reason.startswith("not checked: ")


def test_a_hung_mysql_fails_within_its_connect_timeout(silent_port: int) -> None:
    start = time.perf_counter()
    (check,) = asyncio.run(probe_store("db", "mysql", f"mysql://root@127.0.0.1:{silent_port}/test", timeout=0.5))
    assert time.perf_counter() - start < 2.0
    assert check.status == "fail"
    assert f"127.0.0.1:{silent_port}/test: OperationalError" in check.reason


def test_a_missing_postgres_extension_fails_naming_it(postgres_url: str) -> None:
    (_, check) = asyncio.run(
        probe_store("db", "postgresql", postgres_url, timeout=3.0, extensions=["plpgsql", "interlock_no_such_ext"])
    )
    assert (check.id, check.kind, check.status) == ("db.extensions", "extensions", "fail")
    assert "extensions not installed: interlock_no_such_ext" in check.reason
    assert "plpgsql" in check.details["installed"]


def test_a_password_never_reaches_the_check(postgres_url: str, closed_port: int) -> None:
    url = make_url(postgres_url).set(password="s3cret-pw", port=closed_port).render_as_string(hide_password=False)
    (check,) = asyncio.run(probe_store("db", "postgresql", url, timeout=3.0))
    assert check.target == f"postgresql://postgres:***@127.0.0.1:{closed_port}/test"
    assert "s3cret-pw" not in repr(check.to_dict())


def test_a_missing_sqlite_file_fails_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"
    (check, table) = asyncio.run(probe_store("db", "sqlite", f"sqlite:///{path}", timeout=1.0, tables={"t": None}))
    assert check.status == "fail"
    assert f"SQLite database file {path} does not exist" in check.reason
    assert table.reason == f"not checked: SQLite database file {path} does not exist"
    assert not path.exists()


def test_a_url_of_another_kind_fails(tmp_path: Path) -> None:
    (check,) = asyncio.run(probe_store("db", "postgresql", "mysql://root@127.0.0.1:3306/test", timeout=1.0))
    assert check.status == "fail"
    assert "URL scheme 'mysql' is not a postgresql URL" in check.reason
