"""Steps 1.2 and 1.3 on a copy of the demo shop: its real services, SQLite and the embedded log.

Each test runs on its own copy; the shop's services take auto ports, so
parallel runs (and other checkouts) never fight over a port.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from interlock import runspec
from interlock.artifacts import ArtifactDir, validation_errors
from interlock.config import load
from interlock.events import AutomationExecuted, Event, ProtocolError
from interlock.phases import data, environment
from interlock.protocol import Outcome
from interlock.context import RunContext
from tests.support import free_ports

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"
PASSWORD = "pr0be-s3cret"


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A copy of the demo (its services take auto ports)."""
    root = tmp_path / "shop"
    shutil.copytree(SHOP, root, ignore=shutil.ignore_patterns(".interlock", ".artifacts", ".run", "__pycache__"))
    os.utime(root / "data" / "products.csv")  # outside git the last refresh is the mtime: make the copy current
    return root


def context(root: Path, events: list[Event]) -> RunContext:
    return RunContext(runspec.build(load(root / "interlock.toml"), "integration"), ArtifactDir(root / "art"), events.append, lambda k: (False, "test"), "run1")


def run_step(ctx: RunContext) -> tuple[Outcome, float]:
    """Start the services as the engine does, run step 1.2, always stop them."""
    start = time.monotonic()
    try:
        ctx.services.start()
        outcome = environment.run(ctx)
    finally:
        ctx.services.stop()
    return outcome, time.monotonic() - start


def test_demo_environment_passes_and_feeds_the_inventory(shop: Path) -> None:
    events: list[Event] = []
    ctx = context(shop, events)
    outcome, _ = run_step(ctx)
    report = json.loads((shop / "art" / environment.REPORT).read_text("utf-8"))
    assert outcome.status == "pass", [f"{c['id']}: {c['reason']}" for c in report["checks"] if c["status"] != "pass"]
    assert validation_errors("environment-validation-report", report) == []
    assert report["status"] == "pass" and report["summary"]["failed"] == 0
    ids = {c["id"] for c in report["checks"]}
    assert {"setup.1", "catalog.port", "catalog.started", "catalog.owner", "catalog.health", "shipping.health", "shopdb", "shopdb.migrations", "shopdb.table.products",
            "bus", "baseline.versions.python", "baseline.versions.sqlite", "baseline.env.orders"} <= ids
    assert "baseline.versions.postgresql" not in ids  # not used by this environment
    assert any(isinstance(e, AutomationExecuted) and e.status == "PASS" for e in events)
    assert not any(isinstance(e, ProtocolError) for e in events)

    inventory = data.run(ctx)
    text = (shop / "art" / data.INVENTORY).read_text("utf-8")
    assert inventory.status == "pass", inventory.reason
    assert "| products |" in text and "yes (14 rows)" in text and "`contracts/pacts/orders-catalog.json`" in text


def test_wrong_health_port_fails_with_environment_mismatch(shop: Path) -> None:
    config = shop / "interlock.toml"
    text = config.read_text("utf-8")
    dead = free_ports(1)[0]
    text = text.replace('health = "{url:catalog}/health"', f'health = "http://127.0.0.1:{dead}/health"', 1)
    text = text.replace("start_timeout = 20", "start_timeout = 3")
    text += f'\n[environments.integration.brokers.rabbit]\nkind = "amqp"\nurl = "amqp://guest:{PASSWORD}@127.0.0.1:{dead}/"\n'
    config.write_text(text, "utf-8")
    events: list[Event] = []
    outcome, elapsed = run_step(context(shop, events))
    assert outcome.status == "fail" and "catalog.health" in (outcome.reason or "")
    assert elapsed < 3 + 5 + 10  # start timeout + probe timeout + setup and stop
    errors = [e for e in events if isinstance(e, ProtocolError)]
    assert len(errors) == 1 and errors[0].kind == "EnvironmentMismatch"
    assert any(line.startswith("catalog.health: ") for line in errors[0].details)
    assert any(line.startswith("rabbit: ") for line in errors[0].details)
    assert any(isinstance(e, AutomationExecuted) and e.status == "FAIL" for e in events)
    report_text = (shop / "art" / environment.REPORT).read_text("utf-8")
    assert PASSWORD not in report_text and "guest:***@" in report_text
    assert PASSWORD not in json.dumps([e.to_dict() for e in events])
    report = json.loads(report_text)
    assert report["status"] == "fail" and validation_errors("environment-validation-report", report) == []


def test_stale_dataset_with_wrong_sha256_fails_the_inventory(shop: Path) -> None:
    config = shop / "interlock.toml"
    config.write_text(config.read_text("utf-8").replace('refresh = "7d"', f'refresh = "7d"\nsha256 = "{"0" * 64}"'), "utf-8")
    month_ago = time.time() - 30 * 86400
    os.utime(shop / "data" / "products.csv", (month_ago, month_ago))
    outcome = data.run(context(shop, []))
    assert outcome.status == "fail"
    assert "stale" in (outcome.reason or "") and "sha256" in (outcome.reason or "")
    text = (shop / "art" / data.INVENTORY).read_text("utf-8")
    assert "| Dataset | Source | File | SHA-256 | Rows |" in text and "not verified" in text and "(mtime)" in text


def test_dataset_not_seeded_fails_and_no_datasets_passes(shop: Path) -> None:
    ctx = context(shop, [])
    check = {"id": "shopdb.table.products", "kind": "dataset", "target": "x", "status": "fail", "reason": "table products has 3 rows, expected 14", "duration_ms": 1.0, "details": {}}
    ctx.artifacts.write_json(environment.REPORT, {
        "schema_version": 1, "generated_at": "2026-01-01T00:00:00Z", "environment": "integration", "status": "fail",
        "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:00:00Z", "checks": [check],
        "summary": {"total": 1, "passed": 0, "failed": 1},
    })
    outcome = data.run(ctx)
    assert outcome.status == "fail" and "not as seeded" in (outcome.reason or "")

    config = shop / "interlock.toml"
    text = config.read_text("utf-8")
    config.write_text(text[: text.index("[datasets.products]")] + text[text.index("[suite]"):], "utf-8")
    outcome = data.run(context(shop, []))
    assert outcome == Outcome("pass", "no datasets declared")
    assert "No datasets declared" in (shop / "art" / data.INVENTORY).read_text("utf-8")
