"""A service that dies mid-run, through the whole CLI, on a private copy of the demo shop.

The fault is real: a test placed first in the copy's suite sends SIGKILL to
the catalog service (its pid from interlock's pidfile) while step 3.1 runs,
so the rest of the suite meets a dead service. The demo itself is unchanged.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
from jsonschema import Draft202012Validator

from interlock.artifacts import BY_FILENAME, schema

from .conftest import Shop

pytestmark = pytest.mark.e2e

OUTAGE = '''"""Fault injection (interlock's e2e tests): the catalog dies with SIGKILL before the rest of the suite runs."""

import json
import os
import signal
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_catalog_outage() -> None:
    pids = json.loads((Path(__file__).resolve().parents[1] / ".interlock" / "integration" / "pids.json").read_text())
    os.kill(pids["catalog"], signal.SIGKILL)
    time.sleep(0.5)  # interlock's watcher sees the death while step 3.1 still runs
'''


def test_a_service_killed_during_the_suite_fails_gate_3_and_the_evidence_says_so(shop: Shop) -> None:
    (shop.root / "tests" / "test_0_outage.py").write_text(OUTAGE, "utf-8")
    result = shop.interlock("run", "--env", "integration", "--yes", timeout=300)
    died = "service catalog exited with code -9 (SIGKILL) during step 3.1"
    assert result.code == 1, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    assert [line for line in result.stdout.splitlines() if died in line], result.stdout

    gates = json.loads((shop.artifacts / "gate-results.json").read_text("utf-8"))
    status = {g["id"]: g["status"] for g in gates["gates"]}
    assert (status[1], status[2], status[3]) == ("pass", "pass", "fail"), status  # the death came after phase 2
    gate3 = next(g for g in gates["gates"] if g["id"] == 3)
    assert any(c["status"] == "fail" and "critical" in json.dumps(c) for c in gate3["conditions"]), gate3

    defects = list(csv.DictReader(io.StringIO((shop.artifacts / "defect-log.csv").read_text("utf-8"))))
    [death] = [d for d in defects if d["source"] == "service"]
    assert (death["title"], death["severity"], death["status"]) == (died, "critical", "open")
    assert any(d["source"] == "test" and "test_catalog.py" in d["title"] for d in defects), [d["title"] for d in defects]
    report = json.loads((shop.artifacts / "test-execution-report.json").read_text("utf-8"))
    assert report["interlock"]["summary"]["failed"] >= 1

    log = (shop.artifacts / "logs" / "service-catalog.log").read_text("utf-8")
    assert f"[interlock] {died} (at " in log
    with zipfile.ZipFile(shop.artifacts / "INTEGRATION-EVIDENCE.zip") as bundle:
        sealed = next(n for n in bundle.namelist() if n.endswith("logs/service-catalog.log"))
        assert died in bundle.read(sealed).decode("utf-8")

    for path in shop.artifacts.rglob("*.json"):
        data = json.loads(path.read_text("utf-8"))  # every JSON artifact is whole
        if path.name in BY_FILENAME and path.parent == shop.artifacts:
            assert not list(Draft202012Validator(schema(path.name)).iter_errors(data)), path.name
    assert not list(shop.artifacts.rglob("*.tmp"))
