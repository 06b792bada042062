"""Shared-storage contracts: the tables each service expects, checked against the live database.

A service declares what it relies on in a shared store with one
``[[contracts.schema]]`` entry per store::

    [[contracts.schema]]
    service = "orders"              # the consumer of the tables
    store = "shopdb"                # a store of every environment
    path = "contracts/schema/orders.yaml"

The spec file (YAML, TOML or JSON, by suffix) declares tables; everything but
``columns`` is optional, and only what is declared is checked (extra columns,
indexes and constraints in the database are fine: the spec states what this
service needs, not the whole schema)::

    version: 1                      # optional; 1 is the only version
    description: what orders reads and writes   # optional
    tables:
      shipments:                    # "schema.table" names a table in another schema
        columns:
          id: {type: text, nullable: false}
          order_id: {type: "varchar(36)", nullable: false}
          note: text                # shorthand: type only, nullability not checked
        primary_key: [id]           # exactly these columns, in this order
        unique: [[order_id]]        # a unique constraint, unique index or primary key on these columns (any order)
        foreign_keys:
          - {columns: [order_id], references: "orders(id)"}
        indexes:
          - {columns: [status, created_at], unique: false}   # ordered; `unique` omitted: either

Columns named by keys, unique sets, foreign keys and indexes must be declared
under ``columns`` (a typo is caught on load). A spec that breaks any of this
is a `UsageError` naming the file and the key (``$.tables.shipments.columns.id.type``).

Types are compared by family, because each database spells them its own way:

========== ============================================== ===================================================
family     spec spelling                                  live types in that family
========== ============================================== ===================================================
smallint   ``smallint``, ``int2``                         SMALLINT, INT2, TINYINT (MySQL/MariaDB, but see boolean)
integer    ``integer``, ``int``, ``int4``                 INTEGER, INT, INT4, int(11), MEDIUMINT, SERIAL
bigint     ``bigint``, ``int8``                           BIGINT, INT8, bigint(20), BIGSERIAL
numeric    ``numeric``, ``decimal``, ``numeric(P[,S])``   NUMERIC, DECIMAL (precision/scale compared when both sides give them)
float      ``float``, ``real``, ``double``                REAL, FLOAT, DOUBLE, DOUBLE PRECISION, FLOAT4/8
boolean    ``boolean``, ``bool``                          BOOLEAN, BOOL, TINYINT(1) (MySQL/MariaDB's BOOLEAN)
text       ``text``, ``varchar(N)``, ``char(N)``          TEXT, VARCHAR, CHARACTER VARYING, CHAR, CLOB, *TEXT, ENUM
timestamp  ``timestamp``, ``datetime``                    TIMESTAMP (with or without time zone), DATETIME
date       ``date``                                       DATE
time       ``time``                                       TIME
json       ``json``                                       JSON, JSONB; LONGTEXT on MySQL/MariaDB (MariaDB's JSON)
uuid       ``uuid``                                       UUID; CHAR(32)/CHAR(36) where there is no UUID type
binary     ``binary``, ``blob``, ``bytea``                BYTEA, BLOB, BINARY, VARBINARY, *BLOB
========== ============================================== ===================================================

A declared ``varchar(N)``/``char(N)`` also requires the live length to be N
where the database reports one (an unbounded TEXT column reports none). A
primary-key column counts as NOT NULL: SQLite reports its primary-key columns
as nullable unless declared NOT NULL, although every other database forbids it.
Identifiers are compared case-insensitively. Views are not tables here.

Verification: every store is inspected once, over one connection, with
SQLAlchemy's inspector (stores side by side). One record per entry
(consumer = service, provider = store), one item per declared table with id
``<store>:table <name>`` (the scope matrix's interface id) and one mismatch per
difference, path ``$.tables.<t>.columns.<c>.type`` and so on, with expected
and actual. An unreachable store makes every item of it "error", with the
reason and never a password. When two entries declare the same table of the
same store, each of them also gets an item ``<store>:table <name> (agreement)``:
the two declarations must be satisfiable by one table (same type family, same
lengths where both give one, same nullability and primary key where both
declare them); each difference is a mismatch naming both services.
"""

from interlock.contracts.schema.compare import compare_table, disagreements, type_problem
from interlock.contracts.schema.document import (
    FAMILIES,
    SPEC_VERSION,
    ColumnSpec,
    DeclaredType,
    ForeignKeySpec,
    IndexSpec,
    SchemaSpec,
    TableSpec,
    load_spec,
    parse_spec,
    parse_type,
)
from interlock.contracts.schema.kind import KIND, SchemaKind, entries, settings, verify
from interlock.contracts.schema.live import LiveColumn, LiveTable, LiveType, StoreView, inspect_store, live_type, reflect_table
from interlock.contracts.schema.records import Entry, records

__all__ = [
    "FAMILIES", "KIND", "SPEC_VERSION", "ColumnSpec", "DeclaredType", "Entry", "ForeignKeySpec", "IndexSpec", "LiveColumn", "LiveTable",
    "LiveType", "SchemaKind", "SchemaSpec", "StoreView", "TableSpec", "compare_table", "disagreements", "entries", "inspect_store",
    "live_type", "load_spec", "parse_spec", "parse_type", "records", "reflect_table", "settings", "type_problem", "verify",
]
