"""Shared-storage contracts on SQLite: the spec format, the comparison and the records, through `verify`."""

from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import types as sqltypes
from sqlalchemy.dialects import mysql, postgresql, sqlite

from interlock import runspec
from interlock.artifacts import ArtifactDir
from interlock.config import load
from interlock.contracts import schema
from interlock.contracts.schema import (
    DeclaredType,
    compare_table,
    live_type,
    load_spec,
    parse_type,
)
from interlock.errors import UsageError
from interlock.phases import contracts
from interlock.context import RunContext

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
[services.shipping]

[environments.integration]
probe_timeout = 3.0

[environments.integration.services.catalog]
url = "http://127.0.0.1:1"
[environments.integration.services.orders]
url = "http://127.0.0.1:2"
[environments.integration.services.shipping]
url = "http://127.0.0.1:3"

[environments.integration.stores.db]
kind = "{kind}"
url = "{url}"
"""

DDL = [
    ("CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, sku VARCHAR(20) NOT NULL UNIQUE,"
    " price_cents BIGINT NOT NULL, weight NUMERIC(10,2), active BOOLEAN NOT NULL, added TIMESTAMP)"),
    ("CREATE TABLE orders (id TEXT PRIMARY KEY, product_id INTEGER NOT NULL REFERENCES products(id), quantity INTEGER NOT NULL,"
    " status TEXT NOT NULL, created_at TEXT NOT NULL, note TEXT, CONSTRAINT orders_pair UNIQUE (product_id, created_at))"),
    "CREATE INDEX orders_status_created ON orders (status, created_at)",
]

PRODUCTS = {
    "columns": {
        "id": {"type": "integer", "nullable": False},
        "name": {"type": "text", "nullable": False},
        "sku": {"type": "varchar(20)", "nullable": False},
        "price_cents": {"type": "bigint", "nullable": False},
        "weight": {"type": "numeric(10,2)", "nullable": True},
        "active": "boolean",
        "added": {"type": "timestamp"},
    },
    "primary_key": ["id"],
    "unique": [["sku"]],
}
ORDERS = {
    "columns": {
        "id": {"type": "text", "nullable": False},
        "product_id": {"type": "int", "nullable": False},
        "status": {"type": "text", "nullable": False},
        "created_at": {"type": "text", "nullable": False},
    },
    "primary_key": ["id"],
    "unique": [["created_at", "product_id"]],
    "foreign_keys": [{"columns": ["product_id"], "references": "products(id)"}],
    "indexes": [{"columns": ["status", "created_at"], "unique": False}, {"columns": ["status", "created_at"]}, {"columns": ["id"], "unique": True}],
}


def make_db(path: Path, ddl: list[str] = DDL) -> Path:
    with sqlite3.connect(path) as conn:
        for statement in ddl:
            conn.execute(statement)
    return path


def write_spec(root: Path, name: str, spec: Any) -> str:
    folder = root / "contracts" / "schema"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if name.endswith(".json"):
        path.write_text(json.dumps(spec), "utf-8")
    elif name.endswith(".toml"):
        path.write_text(spec, "utf-8")  # TOML is written by hand in the tests
    else:
        path.write_text(yaml.safe_dump(spec), "utf-8")
    return path.relative_to(root).as_posix()


def make_ctx(root: Path, entries: list[tuple[str, str]], *, kind: str = "sqlite", url: str | None = None, store: str = "db") -> RunContext:
    """A system whose config declares `entries` (service, spec path) against one store."""
    text = CONFIG.format(zeros="0" * 64, kind=kind, url=url if url is not None else f"sqlite:///{root / 'shop.db'}")
    for service, path in entries:
        text += f'\n[[contracts.schema]]\nservice = "{service}"\nstore = "{store}"\npath = "{path}"\n'
    (root / "interlock.toml").write_text(text, "utf-8")
    return RunContext(runspec.build(load(root / "interlock.toml"), "integration"), ArtifactDir(root / "art"), lambda e: None, lambda k: (False, "test"), "run1")


def items(records: list[dict[str, Any]], service: str) -> dict[str, dict[str, Any]]:
    [record] = [r for r in records if r["consumer"] == service]
    return {i["id"]: i for i in record["interactions"]}


def paths(item: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["path"]: m for m in item["mismatches"]}


@pytest.fixture
def closed_port() -> int:
    """A local port with nothing listening: connections to it are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    make_db(tmp_path / "shop.db")
    return tmp_path


def one_table(root: Path, table: str, spec: dict[str, Any]) -> dict[str, Any]:
    ctx = make_ctx(root, [("catalog", write_spec(root, "catalog.yaml", {"tables": {table: spec}}))])
    return items(schema.verify(ctx), "catalog")[f"db:table {table}"]


# --- pass ------------------------------------------------------------------


def test_matching_specs_pass_with_one_record_per_service(root: Path) -> None:
    ctx = make_ctx(root, [
        ("catalog", write_spec(root, "catalog.yaml", {"version": 1, "tables": {"products": PRODUCTS}})),
        ("orders", write_spec(root, "orders.json", {"tables": {"orders": ORDERS}})),
    ])
    records = schema.verify(ctx)
    assert [(r["id"], r["kind"], r["consumer"], r["provider"], r["status"]) for r in records] == [
        ("schema:catalog->db", "schema", "catalog", "db", "pass"), ("schema:orders->db", "schema", "orders", "db", "pass"),
    ]
    products = items(records, "catalog")["db:table products"]
    assert products["status"] == "pass" and products["mismatches"] == [] and products["duration_ms"] >= 0
    assert "catalog expects table products in db" in products["description"]
    assert items(records, "orders")["db:table orders"]["status"] == "pass"
    assert records[1]["source"] == "contracts/schema/orders.json" and records[1]["reason"] is None


def test_the_step_writes_valid_artifacts_and_passes(root: Path) -> None:
    ctx = make_ctx(root, [("catalog", write_spec(root, "catalog.yaml", {"tables": {"products": PRODUCTS}}))])
    outcome = contracts.run(ctx)  # validates both artifacts against their schemas
    assert outcome.status == "pass", outcome
    results = json.loads((root / "art" / "contract-validation-results.json").read_text())
    assert results["summary"]["passed"] == 1 and results["contracts"][0]["kind"] == "schema"
    config = json.loads((root / "art" / "contract-validation-config.json").read_text())
    assert config["validators"]["schema"]["specs"][0]["tables"] == ["products"]


def test_toml_spec_and_case_insensitive_names(root: Path) -> None:
    toml = '[tables.PRODUCTS.columns]\nID = { type = "INTEGER", nullable = false }\nName = "TEXT"\n[tables.PRODUCTS]\nprimary_key = ["Id"]\n'
    ctx = make_ctx(root, [("catalog", write_spec(root, "catalog.toml", toml))])
    item = items(schema.verify(ctx), "catalog")["db:table PRODUCTS"]
    assert item["status"] == "pass", item["mismatches"]


def test_sqlite_primary_key_columns_count_as_not_null(root: Path) -> None:
    # SQLite reports `id INTEGER PRIMARY KEY` and `id TEXT PRIMARY KEY` as nullable; both are keys, so NOT NULL.
    assert one_table(root, "orders", {"columns": {"id": {"type": "text", "nullable": False}}})["status"] == "pass"


# --- differences -------------------------------------------------------------


def test_missing_table(root: Path) -> None:
    item = one_table(root, "ghosts", {"columns": {"id": "integer"}})
    assert item["status"] == "fail" and item["id"] == "db:table ghosts"
    [mismatch] = item["mismatches"]
    assert mismatch["type"] == "missing-table" and mismatch["path"] == "$.tables.ghosts" and mismatch["actual"] is None
    assert "does not exist" in mismatch["message"]


def test_missing_column(root: Path) -> None:
    item = one_table(root, "products", {"columns": {"id": "integer", "colour": {"type": "text", "nullable": True}}})
    [mismatch] = item["mismatches"]
    assert (mismatch["type"], mismatch["path"], mismatch["expected"], mismatch["actual"]) == ("missing-column", "$.tables.products.columns.colour", "text", None)


def test_wrong_type_family_and_lengths(root: Path) -> None:
    item = one_table(root, "products", {"columns": {
        "price_cents": "integer", "name": "bigint", "sku": "varchar(36)", "weight": "numeric(12,2)", "active": "boolean", "added": "datetime",
    }})
    found = paths(item)
    assert set(found) == {"$.tables.products.columns.price_cents.type", "$.tables.products.columns.name.type",
                          "$.tables.products.columns.sku.type", "$.tables.products.columns.weight.type"}
    price = found["$.tables.products.columns.price_cents.type"]
    assert (price["expected"], price["actual"]) == ("integer", "BIGINT") and "family bigint" in price["message"]
    assert "length 20" in found["$.tables.products.columns.sku.type"]["message"]
    assert "precision 10" in found["$.tables.products.columns.weight.type"]["message"]


def test_nullability(root: Path) -> None:
    item = one_table(root, "products", {"columns": {"added": {"type": "timestamp", "nullable": False}, "name": {"type": "text", "nullable": True}}})
    found = paths(item)
    assert found["$.tables.products.columns.added.nullable"]["expected"] is False and found["$.tables.products.columns.added.nullable"]["actual"] is True
    assert found["$.tables.products.columns.name.nullable"]["message"] == "column products.name is NOT NULL, expected nullable"


def test_missing_keys_unique_foreign_key_and_indexes(root: Path) -> None:
    item = one_table(root, "orders", {
        "columns": {"id": "text", "status": "text", "note": "text", "quantity": "integer", "product_id": "integer", "created_at": "text"},
        "primary_key": ["status"],
        "unique": [["status"], ["created_at", "product_id"]],
        "foreign_keys": [{"columns": ["quantity"], "references": "products(id)"}, {"columns": ["product_id"], "references": "products(id)"}],
        "indexes": [{"columns": ["note"]}, {"columns": ["status", "created_at"], "unique": True}, {"columns": ["created_at", "status"]}],
    })
    found = paths(item)
    assert set(found) == {"$.tables.orders.primary_key", "$.tables.orders.unique[0]", "$.tables.orders.foreign_keys[0]",
                          "$.tables.orders.indexes[0]", "$.tables.orders.indexes[1]", "$.tables.orders.indexes[2]"}
    assert found["$.tables.orders.primary_key"]["actual"] == ["id"]
    assert found["$.tables.orders.foreign_keys[0]"]["actual"] == ["(product_id) references products(id)"]
    assert "no unique index on (status, created_at) (only a non-unique one)" in found["$.tables.orders.indexes[1]"]["message"]
    assert found["$.tables.orders.unique[0]"]["type"] == "unique" and found["$.tables.orders.indexes[0]"]["type"] == "index"


def test_unique_is_met_by_a_unique_index(tmp_path: Path) -> None:
    make_db(tmp_path / "shop.db", ["CREATE TABLE t (a INTEGER, b INTEGER)", "CREATE UNIQUE INDEX t_ab ON t (b, a)"])
    item = one_table(tmp_path, "t", {"columns": {"a": "integer", "b": "integer"}, "unique": [["a", "b"]], "indexes": [{"columns": ["b", "a"], "unique": True}]})
    assert item["status"] == "pass", item["mismatches"]


# --- agreement -----------------------------------------------------------------


def test_two_services_disagreeing_is_a_failed_agreement_item_naming_both(root: Path) -> None:
    catalog = {"tables": {"products": {"columns": {"id": {"type": "integer", "nullable": False}, "sku": "varchar(20)"}, "primary_key": ["id"]}}}
    orders = {"tables": {"products": {"columns": {"id": {"type": "bigint", "nullable": True}, "sku": "text"}, "primary_key": ["id", "sku"]}}}
    ctx = make_ctx(root, [("catalog", write_spec(root, "catalog.yaml", catalog)), ("orders", write_spec(root, "orders.yaml", orders))])
    records = schema.verify(ctx)
    agreement = items(records, "catalog")["db:table products (agreement)"]
    assert agreement["status"] == "fail"
    found = paths(agreement)
    assert set(found) == {"$.tables.products.columns.id.type", "$.tables.products.columns.id.nullable", "$.tables.products.primary_key"}
    kind = found["$.tables.products.columns.id.type"]
    assert (kind["type"], kind["expected"], kind["actual"]) == ("agreement", {"catalog": "integer"}, {"orders": "bigint"})
    assert "catalog" in kind["message"] and "orders" in kind["message"]
    # text and varchar(20) can both hold for one column: no disagreement on sku
    assert items(records, "orders")["db:table products (agreement)"]["status"] == "fail"
    assert items(records, "catalog")["db:table products"]["status"] == "pass"


def test_agreeing_services_get_a_passing_agreement_item(root: Path) -> None:
    ctx = make_ctx(root, [
        ("catalog", write_spec(root, "catalog.yaml", {"tables": {"products": PRODUCTS}})),
        ("orders", write_spec(root, "orders.yaml", {"tables": {"products": {"columns": {"id": "integer", "price_cents": {"type": "bigint", "nullable": False}}}}})),
        ("shipping", write_spec(root, "shipping.yaml", {"tables": {"orders": ORDERS}})),
    ])
    records = schema.verify(ctx)
    assert items(records, "catalog")["db:table products (agreement)"]["status"] == "pass"
    assert "db:table orders (agreement)" not in items(records, "shipping")
    assert all(r["status"] == "pass" for r in records)


# --- unreachable stores, config and spec errors ----------------------------------


def test_missing_sqlite_file_makes_every_item_an_error(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, [("catalog", write_spec(tmp_path, "catalog.yaml", {"tables": {"products": PRODUCTS, "orders": ORDERS}}))])
    [record] = schema.verify(ctx)
    assert record["status"] == "error" and "does not exist" in record["reason"]
    assert {i["status"] for i in record["interactions"]} == {"error"}
    assert record["interactions"][0]["mismatches"][0]["message"].startswith("not checked: SQLite database file")


def test_unreachable_server_reason_has_no_password(tmp_path: Path, closed_port: int) -> None:
    url = f"postgresql://app:s3cret-pw@127.0.0.1:{closed_port}/test"
    ctx = make_ctx(tmp_path, [("catalog", write_spec(tmp_path, "catalog.yaml", {"tables": {"products": PRODUCTS}}))], kind="postgresql", url=url)
    [record] = schema.verify(ctx)
    [item] = record["interactions"]
    assert item["status"] == "error" and f"127.0.0.1:{closed_port}/test" in item["mismatches"][0]["message"]
    assert "s3cret-pw" not in json.dumps(record)
    settings = schema.settings(ctx)
    assert settings is not None and settings["stores"]["db"]["url"] == f"postgresql://app:***@127.0.0.1:{closed_port}/test"


def test_settings_record_specs_hashes_and_versions(root: Path) -> None:
    import hashlib

    import sqlalchemy

    path = write_spec(root, "catalog.yaml", {"tables": {"products": PRODUCTS}})
    settings = schema.settings(make_ctx(root, [("catalog", path)]))
    assert settings is not None and settings["sqlalchemy"] == sqlalchemy.__version__
    [spec] = settings["specs"]
    assert spec == {"service": "catalog", "store": "db", "path": path, "sha256": hashlib.sha256((root / path).read_bytes()).hexdigest(), "tables": ["products"]}
    assert settings["stores"]["db"]["kind"] == "sqlite"


def test_no_schema_contracts_means_no_settings(root: Path) -> None:
    assert schema.settings(make_ctx(root, [])) is None


def test_empty_spec_is_not_executed(root: Path) -> None:
    [record] = schema.verify(make_ctx(root, [("catalog", write_spec(root, "catalog.yaml", {"tables": {}}))]))
    assert record["status"] == "not_executed" and record["interactions"] == [] and "no tables" in record["reason"]
    assert contracts.summarise([record])["not_executed"] == 1


def test_unknown_store_or_service_is_a_usage_error(root: Path) -> None:
    path = write_spec(root, "catalog.yaml", {"tables": {"products": PRODUCTS}})
    with pytest.raises(UsageError) as info:  # refused when the config loads (`config check`), before anything runs
        schema.verify(make_ctx(root, [("catalog", path)], store="nodb"))
    assert info.value.problems[0].key == "contracts.schema.0.store"
    with pytest.raises(UsageError) as info:
        schema.verify(make_ctx(root, [("billing", path)]))
    assert info.value.problems[0].key == "contracts.schema.0.service"


BAD_SPECS = [
    ([], "$", "must be a mapping"),
    ({"tabels": {}}, "$.tabels", "unknown key"),
    ({"version": 2, "tables": {}}, "$.version", "unsupported spec version"),
    ({"tables": {"t": {}}}, "$.tables.t.columns", "needs `columns`"),
    ({"tables": {"t": {"columns": {"a": {"type": "integr"}}}}}, "$.tables.t.columns.a.type", "unknown type 'integr'"),
    ({"tables": {"t": {"columns": {"a": {"type": "varchar"}}}}}, "$.tables.t.columns.a.type", "write varchar(N)"),
    ({"tables": {"t": {"columns": {"a": {"type": "integer(4)"}}}}}, "$.tables.t.columns.a.type", "takes no size"),
    ({"tables": {"t": {"columns": {"a": {"nullable": False}}}}}, "$.tables.t.columns.a.type", "missing type"),
    ({"tables": {"t": {"columns": {"a": {"type": "text", "nullable": "no"}}}}}, "$.tables.t.columns.a.nullable", "true or false"),
    ({"tables": {"t": {"columns": {"a": {"type": "text", "null": True}}}}}, "$.tables.t.columns.a.null", "unknown key"),
    ({"tables": {"t": {"columns": {"a": "text"}, "primary_key": ["b"]}}}, "$.tables.t.primary_key[0]", "not declared under columns"),
    ({"tables": {"t": {"columns": {"a": "text"}, "primary_key": "a"}}}, "$.tables.t.primary_key", "non-empty list"),
    ({"tables": {"t": {"columns": {"a": "text"}, "unique": ["a"]}}}, "$.tables.t.unique[0]", "non-empty list"),
    ({"tables": {"t": {"columns": {"a": "text"}, "foreign_keys": [{"columns": ["a"], "references": "other"}]}}}, "$.tables.t.foreign_keys[0].references", "table(column"),
    ({"tables": {"t": {"columns": {"a": "text"}, "foreign_keys": [{"columns": ["a"], "references": "o(x, y)"}]}}}, "$.tables.t.foreign_keys[0].references", "as many"),
    ({"tables": {"t": {"columns": {"a": "text"}, "indexes": [{"columns": ["a"], "unique": "yes"}]}}}, "$.tables.t.indexes[0].unique", "true or false"),
    ({"tables": {"t": {"columns": {"a": "text"}, "indexes": [{"cols": ["a"]}]}}}, "$.tables.t.indexes[0].cols", "unknown key"),
]


@pytest.mark.parametrize(("spec", "key", "message"), BAD_SPECS, ids=[b[1] + ":" + b[2] for b in BAD_SPECS])
def test_bad_spec_is_a_usage_error_naming_file_and_key(tmp_path: Path, spec: Any, key: str, message: str) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec), "utf-8")
    with pytest.raises(UsageError) as info:
        load_spec(path)
    assert any(p.key == key and message in p.message and p.file == str(path) for p in info.value.problems), info.value.problems


def test_bad_spec_fails_the_step_with_a_usage_error(root: Path) -> None:
    path = write_spec(root, "catalog.yaml", {"tables": {"products": {"columns": {"id": {"type": "serial"}}}}})
    with pytest.raises(UsageError) as info:
        contracts.run(make_ctx(root, [("catalog", path)]))
    assert str(info.value).startswith(str(root / path)) and "[$.tables.products.columns.id.type]" in str(info.value)


def test_unparsable_yaml_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("tables: {products: [", "utf-8")
    with pytest.raises(UsageError, match="not valid YAML"):
        load_spec(path)


# --- type families (pure) ----------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("integer", DeclaredType("integer", "integer")), ("INT", DeclaredType("integer", "int")), ("bigint", DeclaredType("bigint", "bigint")),
    ("varchar(36)", DeclaredType("text", "varchar", length=36)), ("numeric(10, 2)", DeclaredType("numeric", "numeric", precision=10, scale=2)),
    ("double precision", DeclaredType("float", "double precision")), ("bool", DeclaredType("boolean", "bool")),
])
def test_parse_type(text: str, expected: DeclaredType) -> None:
    assert parse_type(text) == expected


@pytest.mark.parametrize(("type_", "dialect", "family", "also"), [
    (mysql.INTEGER(display_width=11), mysql.dialect(), "integer", set()),
    (postgresql.INTEGER(), postgresql.dialect(), "integer", set()),
    (mysql.BIGINT(display_width=20), mysql.dialect(), "bigint", set()),
    (mysql.TINYINT(display_width=1), mysql.dialect(), "boolean", {"smallint"}),
    (mysql.TINYINT(display_width=4), mysql.dialect(), "smallint", set()),
    (postgresql.BOOLEAN(), postgresql.dialect(), "boolean", set()),
    (sqltypes.VARCHAR(40), postgresql.dialect(), "text", set()),
    (mysql.LONGTEXT(), mysql.dialect(), "text", {"json"}),
    (postgresql.JSONB(), postgresql.dialect(), "json", set()),
    (postgresql.DOUBLE_PRECISION(), postgresql.dialect(), "float", set()),
    (mysql.DOUBLE(), mysql.dialect(), "float", set()),
    (sqltypes.NUMERIC(10, 2), sqlite.dialect(), "numeric", set()),
    (postgresql.TIMESTAMP(timezone=True), postgresql.dialect(), "timestamp", set()),
    (mysql.DATETIME(), mysql.dialect(), "timestamp", set()),
    (postgresql.UUID(), postgresql.dialect(), "uuid", set()),
    (sqltypes.CHAR(36), sqlite.dialect(), "text", {"uuid"}),
    (postgresql.BYTEA(), postgresql.dialect(), "binary", set()),
    (postgresql.ENUM("a", "b", name="e"), postgresql.dialect(), "text", set()),
])
def test_live_type_families(type_: Any, dialect: Any, family: str, also: set[str]) -> None:
    live = live_type(type_, dialect)
    assert (live.family, set(live.also)) == (family, also)


def test_compare_table_is_pure_and_reports_every_difference() -> None:
    spec = schema.parse_spec({"tables": {"t": {"columns": {"a": "integer", "b": {"type": "text", "nullable": False}}, "primary_key": ["a"]}}}, Path("s.json")).tables["t"]
    live = schema.LiveTable("t", {"a": schema.LiveColumn("a", live_type(sqltypes.BIGINT(), sqlite.dialect()), True)}, [], [], [], [])
    kinds = [m["type"] for m in compare_table("t", spec, live)]
    assert kinds == ["type", "missing-column", "primary-key"]
