"""The whole suite, however it is narrowed: `interlock run` on copies of the shop, narrowed from outside interlock's own arguments."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from tests.support import Result

from .conftest import INTERLOCK, Shop

pytestmark = pytest.mark.e2e


def run(shop: Shop, **env: str) -> Result:
    """`interlock run --yes` in the shop copy with these environment variables (and none of this pytest's own PYTEST_*)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run([*INTERLOCK, "run", "--env", "integration", "--yes"], cwd=shop.root, capture_output=True, text=True, timeout=400,
                          env={**base, **env}, stdin=subprocess.DEVNULL)
    return Result(done.returncode, done.stdout, done.stderr)


def condition(shop: Shop, cid: str) -> dict[str, Any]:
    gates = json.loads((shop.artifacts / "gate-results.json").read_text())
    return next(c for g in gates["gates"] for c in g["conditions"] if c["id"] == cid)


def report(shop: Shop) -> dict[str, Any]:
    return json.loads((shop.artifacts / "test-execution-report.json").read_text())


def test_k_from_pytest_addopts_is_named_and_fails_gate_3(shop: Shop) -> None:
    result = run(shop, PYTEST_ADDOPTS="-k list_products")
    assert result.code not in (0, 2), result.output
    assert "Traceback" not in result.output and "PROTOCOL COMPLETE" not in result.stdout
    named = [line for line in result.stdout.splitlines() if "-k 'list_products' from PYTEST_ADDOPTS" in line]
    assert named, result.stdout
    section = report(shop)["interlock"]
    assert section["filtered"] is True and section["filter"].startswith("-k 'list_products' from PYTEST_ADDOPTS")
    chosen = section["pytest_selection"]
    assert chosen["environment"]["PYTEST_ADDOPTS"] == "-k list_products" and chosen["keyword"] == "list_products"
    assert chosen["counts"]["suite"] == 8 and chosen["counts"]["selected"] == 1 and chosen["counts"]["ran"] == 1
    assert chosen["command"][:2] == ["-p", "no:cacheprovider"] and "-k" in chosen["command"]  # pytest.ini's addopts, then PYTEST_ADDOPTS
    filtered = condition(shop, "tests.filtered")
    assert filtered["status"] == "fail" and "-k 'list_products' from PYTEST_ADDOPTS" in filtered["reason"]
    assert condition(shop, "tests.critical_not_run")["reason"] == "@critical test(s) that did not run: tests/test_checkout.py::test_place_order: deselected"


def test_k_in_the_configs_suite_args_is_named_and_fails_gate_3(shop: Shop) -> None:
    shop.edit("interlock.toml", 'args = ["-p", "no:schemathesis"', 'args = ["-k", "catalog or place_order", "-p", "no:schemathesis"')
    result = run(shop)
    assert result.code == 1, result.output
    assert "-k 'catalog or place_order' from the config's suite args" in result.stdout
    filtered = condition(shop, "tests.filtered")
    assert filtered["status"] == "fail" and filtered["reason"].startswith(
        "filtered run: not complete evidence (-k 'catalog or place_order' from the config's suite args; 4 of the suite's 8 test(s) not selected")
    assert condition(shop, "tests.critical_not_run")["status"] == "pass"  # test_place_order was kept and ran


def test_a_skipped_critical_test_fails_gate_3_naming_it(shop: Shop) -> None:
    shop.edit("tests/test_checkout.py", "@pytest.mark.critical\n", "@pytest.mark.critical\n@pytest.mark.skip(reason='flaky today')\n")
    result = run(shop)
    assert result.code == 1, result.output
    assert "tests/test_checkout.py::test_place_order: skipped" in result.stdout
    critical = condition(shop, "tests.critical_not_run")
    assert critical["status"] == "fail" and critical["actual"] == 1
    assert critical["reason"] == "@critical test(s) that did not run: tests/test_checkout.py::test_place_order: skipped"
    assert [condition(shop, c)["status"] for c in ("tests.filtered", "tests.consistent", "tests.ran")] == ["pass", "pass", "pass"]
