"""The protocol's defect loop through the CLI on the demo shop: halt, mitigate, resume, fix, resolve, regress, Gate 3."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from .conftest import Finished, Shop

pytestmark = pytest.mark.e2e

PLACE_ORDER = "tests/test_checkout.py::test_place_order"


def defects(shop: Shop) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((shop.artifacts / "defect-log.csv").read_text())))


def gate(shop: Shop, number: int) -> dict:
    return json.loads((shop.artifacts / "gate-results.json").read_text())["gates"][number - 1]


def test_critical_failure_halts_resumes_after_mitigation_and_passes_gate_3_once_fixed_and_regressed(halted_run: Finished, tmp_path: Path) -> None:
    # A critical test fails: the run stops at the protocol's defect review (the session's halted_run, on a copy).
    shop, halted = halted_run.copy(tmp_path / "shop"), halted_run.run
    assert halted.code == 3, halted.output
    lines = halted.stdout.splitlines()
    assert "[ERROR] Integration suite reported critical failures." in lines
    assert "[DEFECT REVIEW] Critical integration failures detected. Confirm remediation plan recorded before rerun? (yes/no)" in lines
    assert any(line.endswith(f"rerun: interlock test -- '{PLACE_ORDER}'") for line in lines), halted.stdout
    assert "[PHASE 4 START] - Compiling integration validation bundle for quality audit..." not in lines
    (row,) = [r for r in defects(shop) if r["status"] == "open"]
    assert (row["severity"], row["owner"], row["rerun"]) == ("critical", "team-orders", f"interlock test -- '{PLACE_ORDER}'")

    # A remediation plan lets the run go on; mitigated is not resolved, so Gate 3 still fails.
    assert shop.interlock("defects", "mitigate", row["id"], "--plan", "expect 201 again", "--ticket", "SHOP-7").code == 0
    resumed = shop.interlock("run", "--env", "integration", "--resume")
    assert resumed.code == 1, resumed.output
    assert "[PHASE 4 START] - Compiling integration validation bundle for quality audit..." in resumed.stdout.splitlines()
    assert "[DEFECT REVIEW]" not in resumed.stdout
    assert [r["id"] for r in defects(shop)] == [row["id"]]  # triaged again after the resume: the same failure is one defect
    assert gate(shop, 3)["status"] == "fail"

    # The fix, then the claim that it is fixed, then the proof: regress reruns it (and its neighbours) three times.
    shop.edit("tests/test_checkout.py", "assert response.status_code == 299", "assert response.status_code == 201")
    assert shop.interlock("defects", "resolve", row["id"], "--note", "test expects 201 again").code == 0
    regressed = shop.interlock("regress", "--env", "integration")
    assert regressed.code == 0, regressed.output
    (after,) = defects(shop)
    assert (after["status"], after["regression"], after["ticket"]) == ("resolved", "pass", "SHOP-7")
    summary = (shop.artifacts / "regression-summary.md").read_text()
    assert f"| {row['id']} | critical | `{PLACE_ORDER}` | 3/3 | pass (fixed) | resolved | resolved |" in summary
    assert "| `tests/test_checkout.py::test_unknown_product_is_422` | same module | passed, passed, passed | pass |" in summary
    shop.interlock("gates")
    g3 = gate(shop, 3)
    assert g3["status"] == "pass", g3
    assert {c["id"]: c["status"] for c in g3["conditions"]}["tests.filtered"] == "pass"
