"""`interlock env --env E --output P` (step 1.2) on a copy of the demo shop, through the CLI.

The production-like test uses the real PostgreSQL and RabbitMQ of this machine,
through the `production_like` fixture (a private database and exchange).
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from tests.support import free_ports

from .conftest import Shop

pytestmark = pytest.mark.e2e

ENV_ERROR = "[ERROR] Integration environment diverges from baseline configuration."


def checks_of(path: Path) -> dict[str, dict]:
    return {c["id"]: c for c in json.loads(path.read_text("utf-8"))["checks"]}


@pytest.mark.services
def test_production_like_env_passes_then_fails_fast_on_a_closed_store_port(production_like: Shop, tmp_path: Path) -> None:
    shop = production_like
    private_database = shop.config.read_text().split("127.0.0.1:5432/")[1].split('"')[0]
    output = tmp_path / "out" / "report.json"

    result = shop.interlock("env", "--env", "production-like", "--output", str(output))
    assert result.code == 0, result.output
    artifact = shop.artifacts / "environment-validation-report.json"
    assert output.read_bytes() == artifact.read_bytes()
    checks = checks_of(output)
    assert all(c["status"] == "pass" for c in checks.values()), [f"{i}: {c['reason']}" for i, c in checks.items() if c["status"] != "pass"]
    assert (checks["shopdb"]["kind"], checks["bus"]["kind"]) == ("postgresql", "amqp")
    for expected in ("shopdb.migrations", "shopdb.table.products", "shopdb.checksum.products", "baseline.versions.postgresql",
                     "baseline.versions.rabbitmq", *(f"{s}.{what}" for s in ("catalog", "orders", "shipping") for what in ("started", "health"))):
        assert expected in checks, expected
    assert checks["shopdb.table.products"]["details"]["rows"] == 14
    assert "guest:guest" not in output.read_text("utf-8")

    closed = free_ports(1)[0]
    shop.edit("interlock.toml", f'url = "postgresql://postgres@127.0.0.1:5432/{private_database}"',
              f'url = "postgresql://postgres@127.0.0.1:{closed}/{private_database}"')
    start = time.monotonic()
    result = shop.interlock("env", "--env", "production-like", "--output", str(output), timeout=120)
    elapsed = time.monotonic() - start
    assert result.code == 1, result.output
    assert ENV_ERROR in result.output
    assert "Traceback" not in result.output
    assert f"shopdb: 127.0.0.1:{closed}/{private_database}" in result.output  # the failing check, named with where it looked
    assert elapsed < 60, elapsed  # probe timeout 5 s plus starting and stopping the services
    failed = {i for i, c in checks_of(output).items() if c["status"] == "fail"}
    assert {"shopdb", "shopdb.migrations", "shopdb.table.products", "shopdb.checksum.products"} <= failed
    assert failed <= {"shopdb", "shopdb.migrations", "shopdb.table.products", "shopdb.checksum.products", "baseline.versions.postgresql"}
    assert output.read_bytes() == artifact.read_bytes()


def rewrite_product_1(shop: Shop) -> None:
    """What the pact state "product 1 exists" leaves in the store after a run's contracts."""
    with closing(sqlite3.connect(shop.root / ".interlock" / "integration" / "shop.db")) as conn, conn:
        conn.execute("UPDATE products SET name = 'Espresso beans 1 kg', price_cents = 2490 WHERE id = 1")


def test_integration_env_checksums_the_seeded_products_and_reseeds_after_contracts(shop: Shop, tmp_path: Path) -> None:
    output = tmp_path / "report.json"
    result = shop.interlock("env", "--env", "integration", "--output", str(output))
    assert result.code == 0, result.output
    assert output.read_bytes() == (shop.artifacts / "environment-validation-report.json").read_bytes()
    checksum = checks_of(output)["shopdb.checksum.products"]
    assert (checksum["kind"], checksum["status"], checksum["details"]["rows"]) == ("checksum", "pass", 14)

    rewrite_product_1(shop)  # a previous run's contracts; the setup's seed restores the CSV at the next start
    result = shop.interlock("env", "--env", "integration", "--output", str(output))
    assert result.code == 0, result.output

    rewrite_product_1(shop)  # without the seed, the checksum sees it and names the row
    shop.edit("interlock.toml", ', ["{python}", "-m", "shop.seed"]]', "]")
    result = shop.interlock("env", "--env", "integration", "--output", str(output))
    assert result.code == 1 and ENV_ERROR in result.output, result.output
    reason = checks_of(output)["shopdb.checksum.products"]["reason"]
    assert "row id=1 (line 2 of data/products.csv) differs" in reason and "Espresso beans 1 kg" in reason


def test_a_drifted_environment_variable_fails_naming_it_without_the_secret(shop: Shop, tmp_path: Path) -> None:
    secret, pinned = "dr1fted-t0ken-7f3a9c", "p1nned-t0ken-0b5e21"
    baseline = shop.root / "env" / "baseline.toml"
    baseline.write_text(baseline.read_text("utf-8") + f'\n[variables]\nSHOP_API_TOKEN = "{pinned}"\nSHOP_REGION = "eu-west-1"\n', "utf-8")
    shop.edit("interlock.toml", 'PYTHONPATH = "{root}"', f'PYTHONPATH = "{{root}}"\nSHOP_API_TOKEN = "{secret}"\nSHOP_REGION = "us-east-1"')
    output = tmp_path / "report.json"
    result = shop.interlock("env", "--env", "integration", "--output", str(output))
    assert result.code == 1, result.output
    assert ENV_ERROR in result.output and "Traceback" not in result.output
    assert "baseline.var.SHOP_API_TOKEN" in result.output and "baseline.var.SHOP_REGION" in result.output
    checks = checks_of(output)
    token, region = checks["baseline.var.SHOP_API_TOKEN"], checks["baseline.var.SHOP_REGION"]
    assert (token["status"], token["details"]["compared"]) == ("fail", "sha256")
    assert "SHOP_API_TOKEN differs from the baseline" in token["reason"]
    assert region["status"] == "fail" and "'us-east-1' where the baseline expects 'eu-west-1'" in region["reason"]
    failed = {i for i, c in checks.items() if c["status"] == "fail"}
    assert failed == {"baseline.var.SHOP_API_TOKEN", "baseline.var.SHOP_REGION"}
    for text in (output.read_text("utf-8"), result.output):
        assert secret not in text and pinned not in text
