"""Shared-storage contracts on this machine's real PostgreSQL and MariaDB.

The same two tables are created on each server with the DDL a migration would
use there (uniquely named, dropped afterwards); one spec, written once in
type families, must pass on both dialects, and a drifted spec must fail on both
with the same JSON paths. The servers themselves are never reconfigured.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from interlock import runspec
from interlock.artifacts import ArtifactDir
from interlock.config import load
from interlock.contracts import schema
from interlock.context import RunContext

pytestmark = pytest.mark.services

DRIVERS = {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql"}
DDL = {
    "postgresql": [
        ("CREATE TABLE {p} (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL, price NUMERIC(10,2) NOT NULL, stock BIGINT NOT NULL,"
        " active BOOLEAN NOT NULL, ratio DOUBLE PRECISION, added TIMESTAMP NOT NULL, released DATE, attrs JSONB, note TEXT)"),
        ("CREATE TABLE {c} (id VARCHAR(36) PRIMARY KEY, parent_id INTEGER NOT NULL, code VARCHAR(20) NOT NULL, qty SMALLINT,"
        " CONSTRAINT {c}_code UNIQUE (code), CONSTRAINT {c}_fk FOREIGN KEY (parent_id) REFERENCES {p}(id))"),
        "CREATE INDEX {c}_ix ON {c} (parent_id, code)",
    ],
    "mysql": [
        ("CREATE TABLE {p} (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, price DECIMAL(10,2) NOT NULL, stock BIGINT NOT NULL,"
        " active BOOLEAN NOT NULL, ratio DOUBLE, added DATETIME NOT NULL, released DATE, attrs JSON, note TEXT) ENGINE=InnoDB"),
        ("CREATE TABLE {c} (id VARCHAR(36) PRIMARY KEY, parent_id INT NOT NULL, code VARCHAR(20) NOT NULL, qty SMALLINT,"
        " CONSTRAINT {c}_code UNIQUE (code), CONSTRAINT {c}_fk FOREIGN KEY (parent_id) REFERENCES {p}(id)) ENGINE=InnoDB"),
        "CREATE INDEX {c}_ix ON {c} (parent_id, code)",
    ],
}


def spec(p: str, c: str) -> dict[str, Any]:
    """One spec for both dialects, in type families."""
    return {"version": 1, "tables": {
        p: {
            "columns": {
                "id": {"type": "integer", "nullable": False}, "name": {"type": "varchar(100)", "nullable": False},
                "price": {"type": "numeric(10,2)", "nullable": False}, "stock": {"type": "bigint", "nullable": False},
                "active": {"type": "boolean", "nullable": False}, "ratio": {"type": "float", "nullable": True},
                "added": {"type": "timestamp", "nullable": False}, "released": "date", "attrs": "json", "note": {"type": "text", "nullable": True},
            },
            "primary_key": ["id"],
        },
        c: {
            "columns": {"id": {"type": "varchar(36)", "nullable": False}, "parent_id": {"type": "int", "nullable": False},
                        "code": {"type": "varchar(20)", "nullable": False}, "qty": "smallint"},
            "primary_key": ["id"],
            "unique": [["code"]],
            "foreign_keys": [{"columns": ["parent_id"], "references": f"{p}(id)"}],
            "indexes": [{"columns": ["parent_id", "code"], "unique": False}, {"columns": ["code"], "unique": True}],
        },
    }}


CONFIG = """
[project]
name = "x"
[prerequisites.feature_list]
path = "f.json"
version = "1"
[prerequisites.architecture_contracts]
path = "contracts"
version = "1"
[prerequisites.environment_baseline]
path = "b.toml"
sha256 = "{zeros}"
[services.catalog]
[services.orders]
[environments.integration.services.catalog]
url = "http://127.0.0.1:1"
[environments.integration.services.orders]
url = "http://127.0.0.1:2"
[environments.integration.stores.db]
kind = "{kind}"
url = "{url}"
"""


def context(root: Path, kind: str, url: str, specs: dict[str, dict[str, Any]]) -> RunContext:
    text_ = CONFIG.format(zeros="0" * 64, kind=kind, url=url)
    for service, body in specs.items():
        path = root / f"{service}.yaml"
        path.write_text(yaml.safe_dump(body, sort_keys=False), "utf-8")
        text_ += f'\n[[contracts.schema]]\nservice = "{service}"\nstore = "db"\npath = "{path.name}"\n'
    (root / "interlock.toml").write_text(text_, "utf-8")
    return RunContext(runspec.build(load(root / "interlock.toml"), "integration"), ArtifactDir(root / "art"), lambda e: None, lambda k: (False, "test"), "run1")


@pytest.fixture(params=["postgresql", "mysql"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, str, str]]:
    """(kind, url, parent table, child table) on a real server; the tables are dropped afterwards."""
    kind = request.param
    url = request.getfixturevalue("postgres_url" if kind == "postgresql" else "mysql_url")
    tag = uuid.uuid4().hex[:10]
    p, c = f"il_schema_{tag}_parent", f"il_schema_{tag}_child"
    engine = create_engine(make_url(url).set(drivername=DRIVERS[kind]))
    try:
        with engine.begin() as conn:
            for statement in DDL[kind]:
                conn.execute(text(statement.format(p=p, c=c)))
        yield kind, url, p, c
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE IF EXISTS {c}"))
            conn.execute(text(f"DROP TABLE IF EXISTS {p}"))
        engine.dispose()


def test_one_spec_passes_on_each_dialect(server: tuple[str, str, str, str], tmp_path: Path) -> None:
    kind, url, p, c = server
    ctx = context(tmp_path, kind, url, {"catalog": spec(p, c)})
    [record] = schema.verify(ctx)
    failures = {i["id"]: i["mismatches"] for i in record["interactions"] if i["status"] != "pass"}
    assert failures == {}, failures
    assert [i["id"] for i in record["interactions"]] == [f"db:table {p}", f"db:table {c}"]
    assert record["status"] == "pass" and record["provider"] == "db" and record["consumer"] == "catalog"


def test_drift_fails_with_paths_on_each_dialect(server: tuple[str, str, str, str], tmp_path: Path) -> None:
    kind, url, p, c = server
    drifted = spec(p, c)
    parent, child = drifted["tables"][p], drifted["tables"][c]
    parent["columns"]["sku"] = {"type": "varchar(32)", "nullable": False}  # a column the table lacks
    parent["columns"]["stock"] = {"type": "integer", "nullable": False}  # BIGINT in the table
    parent["columns"]["name"] = {"type": "varchar(80)", "nullable": True}  # VARCHAR(100) NOT NULL in the table
    child["unique"] = [["parent_id"]]
    child["foreign_keys"] = [{"columns": ["parent_id"], "references": f"{p}(stock)"}]
    child["indexes"] = [{"columns": ["code", "parent_id"]}]
    ctx = context(tmp_path, kind, url, {"catalog": drifted})
    [record] = schema.verify(ctx)
    assert record["status"] == "fail"
    by_id = {i["id"]: i for i in record["interactions"]}
    found = {m["path"]: m for i in by_id.values() for m in i["mismatches"]}
    assert set(found) == {
        f"$.tables.{p}.columns.sku", f"$.tables.{p}.columns.stock.type", f"$.tables.{p}.columns.name.type", f"$.tables.{p}.columns.name.nullable",
        f"$.tables.{c}.unique[0]", f"$.tables.{c}.foreign_keys[0]", f"$.tables.{c}.indexes[0]",
    }
    stock = found[f"$.tables.{p}.columns.stock.type"]
    assert stock["expected"] == "integer" and stock["actual"].upper().startswith("BIGINT")
    assert found[f"$.tables.{p}.columns.name.type"]["message"].endswith("length 100, expected varchar(80)")
    assert found[f"$.tables.{c}.foreign_keys[0]"]["actual"] == [f"(parent_id) references {p}(id)"]


def test_missing_table_and_disagreeing_services_on_a_real_server(server: tuple[str, str, str, str], tmp_path: Path) -> None:
    kind, url, p, c = server
    orders = {"tables": {p: {"columns": {"id": "bigint", "price": "numeric(12,2)"}}, f"{p}_gone": {"columns": {"id": "integer"}}}}
    ctx = context(tmp_path, kind, url, {"catalog": spec(p, c), "orders": orders})
    records = {r["consumer"]: r for r in schema.verify(ctx)}
    items = {i["id"]: i for i in records["orders"]["interactions"]}
    assert items[f"db:table {p}_gone"]["mismatches"][0]["type"] == "missing-table"
    agreement = items[f"db:table {p} (agreement)"]
    assert agreement["status"] == "fail"
    assert {m["path"]: (m["expected"], m["actual"]) for m in agreement["mismatches"]} == {
        f"$.tables.{p}.columns.id.type": ({"orders": "bigint"}, {"catalog": "integer"}),
        f"$.tables.{p}.columns.price.type": ({"orders": "numeric(12,2)"}, {"catalog": "numeric(10,2)"}),
    }
    catalog = {i["id"]: i["status"] for i in records["catalog"]["interactions"]}
    assert catalog == {f"db:table {p}": "pass", f"db:table {c}": "pass", f"db:table {p} (agreement)": "fail"}
