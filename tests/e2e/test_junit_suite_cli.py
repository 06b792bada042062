"""`[suite] runner = "junit"` end to end: a copy of the shop whose suite is run by a command that writes JUnit XML.

The runner is pytest itself with `--junitxml` (a JUnit runner that needs no npm
here): interlock reads only its XML, exactly as it reads jest-junit's or gotestsum's.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from .conftest import Shop

pytestmark = pytest.mark.e2e

PLUGINS = '"-p", "no:schemathesis", "-p", "no:hypothesispytest", "-p", "no:pact", "-o", "junit_family=xunit1", "--junitxml", "reports/junit.xml"'
SUITE = f'''[suite]
runner = "junit"
timeout = 120
command = ["{{python}}", "-m", "pytest", "-m", "integration", "tests", {PLUGINS}]
junit_xml = "reports/junit.xml"
rerun = ["{{python}}", "-m", "pytest", "tests", {PLUGINS}, "{{file}}::{{name}}"]
filter_args = ["-k", "-m"]

[[suite.tests]]
match = "tests/test_checkout.py::test_place_order"
interfaces = ["orders:POST /orders", "catalog:GET /products/{{id}}"]
critical = true

'''


def junit_shop(shop: Shop) -> Shop:
    text = shop.config.read_text("utf-8")
    shop.config.write_text(re.sub(r"\[suite\]\n.*?(?=\[owners\])", lambda _: SUITE, text, count=1, flags=re.DOTALL), "utf-8")
    return shop


def report(shop: Shop) -> dict[str, Any]:
    return json.loads((shop.artifacts / "test-execution-report.json").read_text())


def condition(shop: Shop, cid: str) -> dict[str, Any]:
    gates = json.loads((shop.artifacts / "gate-results.json").read_text())
    return next(c for g in gates["gates"] for c in g["conditions"] if c["id"] == cid)


def test_a_junit_suite_is_the_runs_evidence_and_narrowing_it_is_a_filtered_run(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    junit_shop(shop)
    monkeypatch.setenv("INTERLOCK_GIT_COMMIT", "1" * 40)
    first = shop.interlock("test", "--env", "integration", "--yes")
    assert first.code == 0, first.output
    section = report(shop)["interlock"]
    assert section["runner"] == "junit" and section["summary"]["passed"] == 8 and section["filtered"] is False
    assert "no expected size" in first.stdout  # nothing sized it yet: this run is the expectation
    narrowed = shop.interlock("test", "--env", "integration", "--yes", "--", "-k", "list_products")
    assert narrowed.code == 0 and "filtered run ('-k' from the command line" in narrowed.stdout, narrowed.output
    assert shop.interlock("gates").code == 1
    assert condition(shop, "tests.filtered")["status"] == "fail" and "'-k' from the command line" in condition(shop, "tests.filtered")["reason"]
    # narrowed from outside interlock's arguments: fewer tests than the complete run on this identity
    shop.edit("pytest.ini", "addopts = -p no:cacheprovider", "addopts = -p no:cacheprovider --deselect tests/test_catalog.py::test_list_products")
    hidden = shop.interlock("test", "--env", "integration", "--yes")
    assert hidden.code == 0, hidden.output
    section = report(shop)["interlock"]
    assert section["filtered"] is True and section["filter"].startswith("7 of the suite's 8 test(s) ran (expected from the previous complete run")
    shop.interlock("gates")
    assert condition(shop, "tests.filtered")["status"] == "fail" and "7 of the suite's 8 test(s) ran" in condition(shop, "tests.filtered")["reason"]


def test_a_failing_junit_test_is_a_critical_defect_with_the_runners_rerun_and_fails_gate_3(shop: Shop) -> None:
    junit_shop(shop)
    shop.edit("tests/test_checkout.py", "assert response.status_code == 201", "assert response.status_code == 299")
    result = shop.interlock("run", "--env", "integration", "--yes")
    assert result.code == 1, result.output
    assert "Traceback" not in result.output
    [failure] = report(shop)["interlock"]["failures"]
    assert failure["nodeid"] == "tests/test_checkout.py::test_place_order" and failure["critical"] is True
    assert failure["rerun"].endswith("--junitxml reports/junit.xml tests/test_checkout.py::test_place_order") and "interlock test" not in failure["rerun"]
    [shown] = [line for line in result.stdout.splitlines() if "[critical] test tests/test_checkout.py::test_place_order failed" in line]
    assert shown.endswith("--junitxml reports/junit.xml tests/test_checkout.py::test_place_order") and "rerun: " in shown
    assert condition(shop, "tests.unresolved_failures")["status"] == "fail"
    assert condition(shop, "defects.open_critical")["status"] == "fail"
    assert condition(shop, "tests.filtered")["status"] == "pass" and condition(shop, "tests.ran")["status"] == "pass"
    assert not (shop.root / "reports" / "junit.xml").exists()  # moved into the evidence: the run identity held
    assert condition(shop, "evidence.identity")["status"] == "pass"
