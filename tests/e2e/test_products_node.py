"""Issue 17 item 8 through the CLI on copies of examples/products-node: a Node.js provider verified through `pact_names`,
provider headers and its own state-change endpoint, with a jest suite (JUnit XML) as the integration suite.

Green: every gate passes and the jest tests are the test execution report. Broken (one jest test expects what the API
never answers): a defect with jest's own rerun command, and Gate 3 fails. `interlock test -- -t ...` is a filtered
run. Without `pact_names`, `config check` names the pact's provider that matches no service.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from interlock import artifacts
from interlock.statuses import ContractStatus, GateStatus, TestOutcome
from tests.support import Result

from .conftest import INTERLOCK, REPO, git

pytestmark = pytest.mark.e2e

EXAMPLE = REPO / "examples" / "products-node"
#: The bearer token the running API checks: the pact records another one, so only the provider headers make it pass.
TOKEN = "e2e-token-5f0c2a9d"
#: The id of a jest test as interlock reads it from jest-junit's XML: `<file>::<describe> <title>`.
BROKEN = "tests/products.test.js::products API gets one product by id"


def _require_node() -> None:
    """Without node or the example's npm packages the example cannot run: a failure under CI=true, else a skip that says why."""
    missing = [what for what, ok in (("node", shutil.which("node")), ("npx", shutil.which("npx")),
                                     ("examples/products-node/node_modules (make install)", (EXAMPLE / "node_modules" / "jest-junit").is_dir()))
               if not ok]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"missing: {', '.join(missing)}")
        pytest.skip(f"missing: {', '.join(missing)}")


def _copy(base: Path) -> Path:
    """The example at `base`, its node_modules a link to the installed one, signed-off keys made, committed to git."""
    root = base / "products-node"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("node_modules", "reports", ".interlock", ".artifacts"))
    (root / "node_modules").symlink_to(EXAMPLE / "node_modules", target_is_directory=True)
    (root / ".gitignore").write_text("node_modules\nreports/\n.artifacts/\n.interlock/\n", "utf-8")
    assert cli(root, "keygen", "--out", ".interlock/keys/signoff.key").code == 0
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "products-node")
    return root


def cli(root: Path, *args: str, token: str | None = TOKEN) -> Result:
    """`interlock ARGS` in `root`, with PRODUCT_TOKEN exported the way the README says (none of this pytest's PYTEST_*)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_") and k != "PRODUCT_TOKEN"}
    if token is not None:
        env["PRODUCT_TOKEN"] = token
    done = subprocess.run([*INTERLOCK, *args], cwd=root, capture_output=True, text=True, timeout=300, env=env, stdin=subprocess.DEVNULL)
    return Result(done.returncode, done.stdout, done.stderr)


def _json(root: Path, name: str) -> Any:
    return json.loads((root / ".artifacts" / "integration" / str(name)).read_text("utf-8"))


def _conditions(root: Path) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for g in _json(root, artifacts.GATE_RESULTS)["gates"] for c in g["conditions"]}


def _edit(root: Path, relative: str, old: str, new: str) -> None:
    path = root / relative
    text = path.read_text("utf-8")
    assert old in text, f"{old!r} not in {relative}"
    path.write_text(text.replace(old, new, 1), "utf-8")


def test_the_node_example_runs_green_with_jest_as_the_integration_suite(tmp_path: Path) -> None:
    _require_node()
    root = _copy(tmp_path)
    result = cli(root, "run", "--yes")
    assert result.code == 0, result.output
    gates = _json(root, artifacts.GATE_RESULTS)["gates"]
    assert len(gates) == 4 and {g["status"] for g in gates} == {GateStatus.PASS}, result.stdout
    report = _json(root, artifacts.EXECUTION_REPORT)
    assert report["interlock"]["runner"] == "junit" and report["interlock"]["filtered"] is False
    assert report["interlock"]["junit_selection"]["expected"] == {"count": 7, "unit": "tests", "source": "`node scripts/list-tests.js`"}
    tests = {t["nodeid"]: t for t in report["tests"]}
    assert len(tests) == 7 and {t["outcome"] for t in tests.values()} == {TestOutcome.PASSED}, tests
    assert tests[BROKEN]["metadata"]["interfaces"] == ["products:GET /products/{id}"] and "critical" in tests[BROKEN]["keywords"]
    assert "baseline.versions.node" in (root / ".artifacts" / "integration" / str(artifacts.ENVIRONMENT_REPORT)).read_text("utf-8")
    pacts = [i for c in _json(root, artifacts.CONTRACT_RESULTS)["contracts"] if c["provider"] == "products" for i in c["interactions"]]
    assert len(pacts) == 4 and {i["status"] for i in pacts} == {ContractStatus.PASS}, pacts
    assert len({i["id"] for i in pacts}) == 4, pacts  # two descriptions, each under two states: four interactions
    evidence = root / ".artifacts" / "integration"
    leaked = [p.name for p in evidence.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
    assert leaked == [], f"the token is in {leaked}"


def test_a_failing_jest_test_is_a_defect_with_a_jest_rerun_and_fails_gate_3(tmp_path: Path) -> None:
    _require_node()
    root = _copy(tmp_path)
    _edit(root, "tests/products.test.js", 'name: "28 Degrees", version: "v1" }', 'name: "28 Degrees", version: "v9" }')
    result = cli(root, "run", "--yes")
    assert result.code == 1, result.output
    tests = {t["nodeid"]: t for t in _json(root, artifacts.EXECUTION_REPORT)["tests"]}
    assert tests[BROKEN]["outcome"] == TestOutcome.FAILED
    with (root / ".artifacts" / "integration" / str(artifacts.DEFECT_LOG)).open(encoding="utf-8") as f:
        defects = list(csv.DictReader(f))
    assert len(defects) == 1, defects
    assert defects[0]["rerun"].startswith("npx jest --ci -t ") and "products API gets one product by id" in defects[0]["rerun"], defects[0]
    assert "Gate 3: FAIL" in result.stdout, result.stdout
    conditions = _conditions(root)
    assert conditions["tests.unresolved_failures"]["status"] == GateStatus.FAIL
    assert conditions["defects.open_critical"]["status"] == GateStatus.FAIL  # the test is critical by its [[suite.tests]] entry


def test_jest_t_narrows_the_run_to_a_filtered_run(tmp_path: Path) -> None:
    _require_node()
    root = _copy(tmp_path)
    result = cli(root, "test", "--", "-t", "web client")
    report = _json(root, artifacts.EXECUTION_REPORT)
    assert report["interlock"]["filtered"] is True, result.output
    assert sorted(t["nodeid"] for t in report["tests"] if t["outcome"] == TestOutcome.PASSED) == [
        "tests/products.test.js::web client shows nothing for an unknown product", "tests/products.test.js::web client shows the catalogue"]
    assert {t["outcome"] for t in report["tests"] if "web client" not in t["nodeid"]} == {TestOutcome.SKIPPED}  # jest -t skips the rest
    cli(root, "gates")
    assert _conditions(root)["tests.filtered"]["status"] == GateStatus.FAIL


def test_without_pact_names_config_check_names_the_unmatched_provider(tmp_path: Path) -> None:
    root = tmp_path / "products-node"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("node_modules", "reports", ".interlock", ".artifacts"))
    assert cli(root, "config", "check").code == 0
    _edit(root, "interlock.toml", 'pact_names = ["ProductService"]\n', "")
    result = cli(root, "config", "check")
    assert result.code == 2, result.output
    assert "ProductService" in result.output and "pact_names" in result.output, result.output


def test_without_the_provider_headers_the_pact_fails_on_the_token(tmp_path: Path) -> None:
    _require_node()
    root = _copy(tmp_path)
    _edit(root, "interlock.toml", 'headers = { Authorization = "Bearer {PRODUCT_TOKEN}" }\n', "")
    result = cli(root, "contracts")
    assert result.code == 1, result.output
    pacts = [i for c in _json(root, artifacts.CONTRACT_RESULTS)["contracts"] if c["provider"] == "products" for i in c["interactions"]]
    assert len(pacts) == 4 and {i["status"] for i in pacts} == {ContractStatus.FAIL}, pacts
    assert all("401" in json.dumps(i["mismatches"]) for i in pacts), pacts  # the recorded token is refused
