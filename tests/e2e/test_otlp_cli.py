"""The built-in OTLP receiver in a whole run of the demo shop: its endpoint on the console, in the test plan and in its
counters, every span it wrote sealed in the evidence bundle."""

from __future__ import annotations

import json
import re
import zipfile

import pytest

from .conftest import Finished

pytestmark = pytest.mark.e2e


def test_a_run_prints_the_endpoint_plans_it_and_seals_what_the_receiver_wrote(passed_run: Finished) -> None:
    folder = passed_run.shop.artifacts
    printed = re.findall(r"OTLP receiver: (http://127\.0\.0\.1:\d+) \(OTEL_EXPORTER_OTLP_ENDPOINT for services interlock does not start",
                         passed_run.run.output)
    assert len(printed) == 1, passed_run.run.output  # the services start once, at 1.2, and run until phase 4
    [endpoint] = printed
    assert "OTLP receiver stopped: " in passed_run.run.output
    assert f"- Traces: OTLP/HTTP receiver at {endpoint} " in (folder / "integration-test-plan.md").read_text("utf-8")
    counters = json.loads((folder / "logs" / "otlp-receiver.json").read_text("utf-8"))
    assert counters["endpoint"] == endpoint and counters["rejected"] == {"malformed": 0, "too_large": 0}
    with zipfile.ZipFile(folder / "INTEGRATION-EVIDENCE.zip") as bundle:
        names = bundle.namelist()
    assert {"data/logs/otlp-receiver.json", "data/logs/otlp-spans.jsonl"} <= set(names)
