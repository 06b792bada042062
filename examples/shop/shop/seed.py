"""``python -m shop.seed``: replace ``products`` with ``data/products.csv``.

Delete-and-insert in one transaction makes the seed idempotent: every run
leaves exactly the CSV's rows, which the Pact provider states rely on
("product 1 exists", "product 999 does not exist").
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from shop import ROOT
from shop.db import make_engine

PRODUCTS_CSV = ROOT / "data" / "products.csv"


def load_products(path: Path = PRODUCTS_CSV) -> list[dict[str, Any]]:
    """The CSV's rows with integer id, price_cents and stock."""
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            {"id": int(row["id"]), "name": row["name"], "price_cents": int(row["price_cents"]),
             "currency": row["currency"], "stock": int(row["stock"])}
            for row in csv.DictReader(handle)
        ]


def seed(engine: Engine, products: list[dict[str, Any]]) -> None:
    """Make ``products`` hold exactly ``products``."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM products"))
        conn.execute(
            text("INSERT INTO products (id, name, price_cents, currency, stock)"
                 " VALUES (:id, :name, :price_cents, :currency, :stock)"),
            products,
        )


def main() -> None:
    """Seed the database of ``SHOP_DB_URL``."""
    products = load_products()
    engine = make_engine()
    seed(engine, products)
    engine.dispose()
    print(f"seeded {len(products)} products from {PRODUCTS_CSV.name}", file=sys.stderr)


if __name__ == "__main__":
    main()
