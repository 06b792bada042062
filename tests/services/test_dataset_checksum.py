"""Dataset content checksums on the real PostgreSQL and MariaDB of this machine.

One CSV is seeded into a uniquely named table on each server with the types a
seeder would use there (NUMERIC, DOUBLE, BOOLEAN/TINYINT, DATE, TIMESTAMP/
DATETIME, NULL): the drivers hand the rows back as different Python types, yet
both checksums must equal the CSV's. The tables are dropped afterwards.
"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from interlock.checks import Check
from interlock.phases.data import csv_content
from interlock.probes.sql import TableContent, probe_store

pytestmark = pytest.mark.services

CSV = """id,name,price_cents,price,weight,active,note,code,released,added
10,Espresso cup,1299,12.99,0.25,true,,007,2024-05-01,2024-05-01 10:00:00
2,Kettle,4990,49.90,1.5,false,gift,010,2024-05-02,2024-05-02 00:00:00
3,"Filters, paper",599,5.00,0.1,true,with 'quotes',A1,2024-05-03,2024-05-03 08:30:00
14,Travel mug,1690,16.90,0.3,false,Ünïcode ☕,B-2,2024-05-04,2024-05-04 23:59:59
"""
COLUMNS = {
    "postgresql": ("id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL, price_cents BIGINT, price NUMERIC(10,2),"
                   " weight DOUBLE PRECISION, active BOOLEAN, note VARCHAR(100), code VARCHAR(10), released DATE, added TIMESTAMP"),
    "mysql": ("id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL, price_cents BIGINT, price DECIMAL(10,2),"
              " weight DOUBLE, active BOOLEAN, note VARCHAR(100), code VARCHAR(10), released DATE, added DATETIME"),
}
DRIVERS = {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql"}
CHANGE = "UPDATE {table} SET price = 13.49 WHERE id = 10"


def typed(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row as a seeder would insert it."""
    return {
        "id": int(row["id"]), "name": row["name"], "price_cents": int(row["price_cents"]), "price": Decimal(row["price"]),
        "weight": float(row["weight"]), "active": row["active"] == "true", "note": row["note"] or None, "code": row["code"],
        "released": date.fromisoformat(row["released"]), "added": datetime.fromisoformat(row["added"]),
    }


class Seeded:
    def __init__(self, kind: str, url: str, table: str, engine: Engine, expected: TableContent) -> None:
        self.kind, self.url, self.table, self.engine, self.expected = kind, url, table, engine, expected

    def probe(self) -> Check:
        checks = asyncio.run(probe_store("db", self.kind, self.url, timeout=3.0, tables={self.table: 4},  # type: ignore[arg-type]
                                         checksums={self.table: self.expected}))
        by_id = {c.id: c for c in checks}
        assert by_id["db"].status == "pass", by_id["db"].reason
        assert by_id[f"db.table.{self.table}"].status == "pass"
        return by_id[f"db.checksum.{self.table}"]


@pytest.fixture
def expected(tmp_path: Path) -> TableContent:
    path = tmp_path / "goods.csv"
    path.write_text(CSV, "utf-8")
    return csv_content(path, "data/goods.csv")


def seed(kind: str, url: str, expected: TableContent) -> Seeded:
    table = f"interlock_goods_{uuid.uuid4().hex[:12]}"
    engine = create_engine(make_url(url).set(drivername=DRIVERS[kind]))
    rows = [typed(r) for r in csv.DictReader(io.StringIO(CSV))]
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} ({COLUMNS[kind]})"))
        names = ", ".join(rows[0])
        conn.execute(text(f"INSERT INTO {table} ({names}) VALUES ({', '.join(':' + n for n in rows[0])})"), rows)
    return Seeded(kind, url, table, engine, expected)


@pytest.fixture
def both(postgres_url: str, mysql_url: str, expected: TableContent) -> Iterator[dict[str, Seeded]]:
    seeded: dict[str, Seeded] = {}
    try:
        seeded["postgresql"] = seed("postgresql", postgres_url, expected)
        seeded["mysql"] = seed("mysql", mysql_url, expected)
        yield seeded
    finally:
        for store in seeded.values():
            with store.engine.begin() as conn:
                conn.execute(text(f"DROP TABLE IF EXISTS {store.table}"))
            store.engine.dispose()


def test_the_same_csv_gives_the_same_checksum_on_postgresql_and_mariadb(both: dict[str, Seeded], expected: TableContent) -> None:
    checks = {kind: store.probe() for kind, store in both.items()}
    for kind, check in checks.items():
        assert (check.kind, check.status) == ("checksum", "pass"), f"{kind}: {check.reason}"
        assert check.details["rows"] == 4
    assert checks["postgresql"].details["sha256"] == checks["mysql"].details["sha256"] == expected.sha256


def test_a_changed_row_fails_on_both_naming_it(both: dict[str, Seeded]) -> None:
    for kind, store in both.items():
        with store.engine.begin() as conn:
            conn.execute(text(CHANGE.format(table=store.table)))
        check = store.probe()
        assert check.status == "fail", kind
        assert "row id=10 (line 2 of data/goods.csv) differs" in (check.reason or ""), check.reason
        assert '"13.49"' in check.details["first_difference"] and '"12.99"' in check.details["first_difference"]


def test_a_deleted_row_fails_on_both_naming_it(both: dict[str, Seeded]) -> None:
    for kind, store in both.items():
        with store.engine.begin() as conn:
            conn.execute(text(f"DELETE FROM {store.table} WHERE id = 3"))
        checks = asyncio.run(probe_store("db", store.kind, store.url, timeout=3.0,  # type: ignore[arg-type]
                                         checksums={store.table: store.expected}))
        check = checks[-1]
        assert check.status == "fail", kind
        assert "row id=3 (line 4 of data/goods.csv) is missing from the store" in (check.reason or ""), check.reason
