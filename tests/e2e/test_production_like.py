"""The demo's production-like environment: the real PostgreSQL and RabbitMQ of this machine."""

from __future__ import annotations

import json

import pytest

from .conftest import Shop

pytestmark = [pytest.mark.e2e, pytest.mark.services]


def test_production_like_run_on_postgresql_and_rabbitmq(production_like: Shop) -> None:
    shop = production_like
    result = shop.interlock("run", "--env", "production-like", "--yes")
    assert result.code == 0, result.output
    report = json.loads((shop.artifacts / "environment-validation-report.json").read_text())
    kinds = {c["kind"] for c in report["checks"] if c["status"] == "pass"}
    assert {"postgresql", "amqp", "migrations"} <= kinds, kinds
    assert "guest:guest" not in json.dumps(report)
    contracts = json.loads((shop.artifacts / "contract-validation-results.json").read_text())
    message = next(c for c in contracts["contracts"] if c["kind"] == "pact-message")
    assert message["status"] == "pass"  # captured from RabbitMQ, not from the embedded log
    assert shop.interlock("verify", str(shop.artifacts / "INTEGRATION-EVIDENCE.zip")).code == 0
