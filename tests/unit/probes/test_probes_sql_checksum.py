"""Dataset content checksums: the normalisation both sides share, and `probe_store` comparing a SQLite table with a CSV."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from contextlib import closing
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from interlock.checks import Check
from interlock.config import Dataset
from interlock.phases.data import Entry, csv_content, inspect
from interlock.probes.sql import TableContent, first_difference, normalise, probe_store

CSV = '''id,name,price,weight,active,note,code,added
10,Espresso cup,12.99,0.25,true,,007,2024-05-01 10:00:00
2,Kettle,49.90,1.5,false,gift,010,2024-05-02 00:00:00

3,"Filters, paper",5.00,0.1,true,"say ""hi""",A1,2024-05-03 08:30:00
'''
SCHEMA = ("CREATE TABLE goods (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price NUMERIC(10,2), weight REAL, active BOOLEAN,"
          " note TEXT, code TEXT, added TIMESTAMP)")
# The CSV's rows as a seeder would insert them: typed values, NULL for an empty note.
TYPED = [
    (10, "Espresso cup", Decimal("12.99"), 0.25, True, None, "007", "2024-05-01 10:00:00"),
    (2, "Kettle", Decimal("49.90"), 1.5, False, "gift", "010", "2024-05-02 00:00:00"),
    (3, "Filters, paper", Decimal("5.00"), 0.1, True, 'say "hi"', "A1", "2024-05-03 08:30:00"),
]


@pytest.mark.parametrize(("value", "text"), [
    (None, ""), ("", ""), (1299, "1299"), ("1299", "1299"), (Decimal("1299.00"), "1299"), (1299.0, "1299"),
    ("1299.00", "1299"), (Decimal("49.90"), "49.9"), ("49.90", "49.9"), (0.1, "0.1"), (1e-05, "0.00001"),
    (-0.0, "0"), (True, "1"), (False, "0"), ("true", "1"), ("false", "0"), ("True", "True"),
    ("007", "007"), ("1e5", "1e5"), (" 12", " 12"), ("Espresso cup", "Espresso cup"),
    (date(2024, 5, 1), "2024-05-01"), (datetime(2024, 5, 1, 10, 0), "2024-05-01 10:00:00"), (b"abc", "abc"),
])
def test_normalise_gives_one_text_per_value_whatever_the_driver_returns(value: object, text: str) -> None:
    assert normalise(value) == text


def test_rows_are_ordered_by_the_first_column_numerically_and_hashed_the_same_from_any_types() -> None:
    from_csv = csv_content_of(CSV)
    typed = TableContent.of(from_csv.columns, TYPED)
    assert [row[0] for row in from_csv.rows] == ["2", "3", "10"]  # by value, not as text
    assert from_csv.origins == ("line 3", "line 5", "line 2")  # blank line 4 skipped, lines still counted
    assert typed.rows == from_csv.rows and typed.sha256 == from_csv.sha256
    changed = TableContent.of(from_csv.columns, [TYPED[0], TYPED[1][:2] + (Decimal("49.91"),) + TYPED[1][3:], TYPED[2]])
    assert changed.sha256 != from_csv.sha256


def test_first_difference_names_the_row_and_its_line() -> None:
    expected = TableContent.of(("id", "name"), [(1, "a"), (2, "b"), (3, "c")], ["line 2", "line 3", "line 4"], "data/x.csv")
    assert first_difference(TableContent.of(("id", "name"), [(3, "c"), (1, "a"), (2, "b")]), expected) is None
    changed = TableContent.of(("id", "name"), [(1, "a"), (2, "B"), (3, "c")])
    assert first_difference(changed, expected) == 'row id=2 (line 3 of data/x.csv) differs: store has ["2", "B"], file has ["2", "b"]'
    missing = TableContent.of(("id", "name"), [(1, "a"), (3, "c")])
    assert first_difference(missing, expected) == 'row id=2 (line 3 of data/x.csv) is missing from the store: file has ["2", "b"]'
    extra = TableContent.of(("id", "name"), [(1, "a"), (2, "b"), (3, "c"), (4, "d")])
    assert first_difference(extra, expected) == 'row id=4 is in the store but not in the file: store has ["4", "d"]'


def test_a_csv_row_with_too_few_cells_is_refused_naming_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("id,name\n1,a\n2\n", "utf-8")
    with pytest.raises(ValueError, match="bad.csv line 3: 1 cells where the header names 2 columns"):
        csv_content(path, "bad.csv")


def csv_content_of(text: str) -> TableContent:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "goods.csv"
        path.write_text(text, "utf-8")
        return csv_content(path, "data/goods.csv")


def make_store(path: Path) -> str:
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(SCHEMA)
        conn.executemany("INSERT INTO goods VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [(*r[:2], float(r[2]), *r[3:]) for r in TYPED])
    return f"sqlite:///{path}"


def probe(url: str, expected: TableContent) -> Check:
    checks = {c.id: c for c in asyncio.run(probe_store("db", "sqlite", url, timeout=2.0, tables={"goods": 3}, checksums={"goods": expected}))}
    assert checks["db"].status == "pass" and checks["db.table.goods"].status == "pass"
    return checks["db.checksum.goods"]


def test_a_sqlite_table_seeded_from_the_csv_matches_it(tmp_path: Path) -> None:
    expected = csv_content_of(CSV)
    check = probe(make_store(tmp_path / "store.db"), expected)
    assert (check.kind, check.status) == ("checksum", "pass"), check.reason
    assert check.details["sha256"] == check.details["expected_sha256"] == expected.sha256
    assert check.details["rows"] == 3 and check.details["columns"] == list(expected.columns)
    assert "matches data/goods.csv" in (check.reason or "")


def test_a_changed_row_fails_naming_the_first_differing_row(tmp_path: Path) -> None:
    url = make_store(tmp_path / "store.db")
    with closing(sqlite3.connect(tmp_path / "store.db")) as conn, conn:
        conn.execute("UPDATE goods SET price = 13.49 WHERE id = 10")
        conn.execute("UPDATE goods SET note = 'changed' WHERE id = 3")
    check = probe(url, csv_content_of(CSV))
    assert check.status == "fail"
    # id 3 comes before id 10 in checksum order, so it is the first difference named
    assert "row id=3 (line 5 of data/goods.csv) differs" in (check.reason or "")
    assert '"changed"' in check.details["first_difference"] and check.details["sha256"] != check.details["expected_sha256"]


def test_a_column_the_table_lacks_fails_naming_it(tmp_path: Path) -> None:
    url = make_store(tmp_path / "store.db")
    check = probe(url, csv_content_of(CSV.replace("added\n", "colour\n", 1)))
    assert check.status == "fail" and "table goods has no column colour (named in data/goods.csv)" in (check.reason or "")


def test_the_inventory_shows_the_checksum_verdict(tmp_path: Path) -> None:
    dataset = Dataset(path="data/goods.csv", store="db", table="goods", source="s", refresh="7d", checksum=True)

    class Ctx:  # only what `inspect` reads
        class loaded:
            root = tmp_path

            @staticmethod
            def resolve(rel: str) -> Path:
                return tmp_path / rel

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "goods.csv").write_text(CSV, "utf-8")
    now = datetime.now().astimezone()
    table = {"id": "db.table.goods", "status": "pass", "reason": "ok", "details": {"rows": 3}}
    good = {"id": "db.checksum.goods", "status": "pass", "reason": "ok", "details": {"sha256": "ab" * 32}}
    entry: Entry = inspect(Ctx(), "goods", dataset, {table["id"]: table, good["id"]: good}, now)  # type: ignore[arg-type]
    assert entry.checksum == "matches (`abababababab…`)" and entry.problems == []
    bad = {**good, "status": "fail", "reason": "row id=2 differs"}
    entry = inspect(Ctx(), "goods", dataset, {table["id"]: table, bad["id"]: bad}, now)  # type: ignore[arg-type]
    assert entry.checksum == "differs: row id=2 differs" and entry.problems == ["content checksum of db.goods failed: row id=2 differs"]
    entry = inspect(Ctx(), "goods", dataset, {table["id"]: table}, now)  # type: ignore[arg-type]
    assert entry.problems == ["content checksum of db.goods was asked for but not computed by step 1.2"]
    entry = inspect(Ctx(), "goods", dataset, None, now)  # type: ignore[arg-type]
    assert entry.checksum == "not verified" and entry.problems == []


def test_checksum_needs_a_csv_dataset() -> None:
    with pytest.raises(ValueError, match="needs a CSV file"):
        Dataset(path="data/goods.json", store="db", table="goods", source="s", refresh="7d", checksum=True)
