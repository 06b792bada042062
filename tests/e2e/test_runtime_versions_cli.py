"""Runtime versions in step 1.2 on a copy of the demo shop (issue 17 item 2): a baseline key is read and checked, never skipped."""

from __future__ import annotations

import json
import shutil

import pytest

from .conftest import Shop

pytestmark = pytest.mark.e2e


def checks_of(shop: Shop) -> dict[str, dict]:
    report = shop.artifacts / "environment-validation-report.json"
    return {c["id"]: c for c in json.loads(report.read_text("utf-8"))["checks"]}


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_out_of_range_fails_step_1_2_naming_node_and_what_was_read(shop: Shop) -> None:
    shop.edit("env/baseline.toml", 'python = ">=3.11"', 'python = ">=3.11"\nnode = ">=99"')
    result = shop.interlock("env", "--env", "integration")
    assert result.code == 1, result.output
    node = checks_of(shop)["baseline.versions.node"]
    assert node["status"] == "fail" and node["reason"].startswith("node ") and "read by `node --version`) does not satisfy >=99" in node["reason"]
    assert node["details"]["observed"].split(".")[0].isdigit()
    assert "baseline.versions.node" in result.output

    shop.edit("env/baseline.toml", 'node = ">=99"', 'node = ">=1"')
    result = shop.interlock("env", "--env", "integration")
    assert result.code == 0, result.output
    assert checks_of(shop)["baseline.versions.node"]["status"] == "pass"


def test_service_readers_by_command_and_by_url_and_a_key_nobody_reads_is_refused(shop: Shop) -> None:
    shop.edit("env/baseline.toml", 'python = ">=3.11"', 'python = ">=3.11"\ncatalogapi = ">=5"\norderskit = ">=2.0"')
    result = shop.interlock("config", "check")
    assert result.code == 2, result.output
    assert "[versions.catalogapi]: no way to read the version of 'catalogapi'" in result.output and "versions.orderskit" in result.output

    shop.edit("interlock.toml", 'openapi = "contracts/openapi/catalog.yaml"\n',
              'openapi = "contracts/openapi/catalog.yaml"\nruntime = "catalogapi"\nversion_url = "{url:catalog}/products/1"\nversion_path = "id"\n')
    shop.edit("interlock.toml", '[services.orders]\n', '[services.orders]\nruntime = "orderskit"\nversion_command = ["{python}", "-c", "print(\'orderskit 2.4.1\')"]\n')
    assert shop.interlock("config", "check").code == 0
    result = shop.interlock("env", "--env", "integration")
    assert result.code == 1, result.output
    checks = checks_of(shop)
    assert checks["baseline.versions.orderskit"]["status"] == "pass" and checks["baseline.versions.orderskit"]["details"]["observed"] == "2.4.1"
    catalog = checks["baseline.versions.catalogapi"]
    assert catalog["status"] == "fail" and "catalogapi 1 (catalog, read by GET http://127.0.0.1:" in catalog["reason"]
    assert "/products/1 .id) does not satisfy >=5" in catalog["reason"]
