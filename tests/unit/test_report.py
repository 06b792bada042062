"""The HTML report: self-contained, shows the gates, the broken edge, the mismatch and the trends; stays small when big."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from interlock.report import REPORT_NAME, build_model, render, write_report
from tests.sample import BROKEN_ITEM, sample_history, sample_test_ids, write_sample
from interlock.report.svg import graph_svg, layout, line_chart
from interlock.store import Store, open_store

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def two_runs(tmp_path: Path) -> tuple[Store, Path]:
    """A passing run, then one with a broken contract and a failing test: the history and the second run's artifacts."""
    store = open_store(None, tmp_path)
    good = write_sample(tmp_path / "good", run_id="run-good", tests=8, started_at=T0)
    store.record_run(good, git_commit="c1")
    broken = write_sample(tmp_path / "broken", run_id="run-broken", tests=8, started_at=T0 + timedelta(hours=1), broken_contract=True,
                          failing_tests=[sample_test_ids(8)[4]])
    store.record_run(broken, git_commit="c2")
    yield store, broken
    store.close()


def _external_references(html: str) -> list[str]:
    """Anything that would make a browser fetch: src/href/url()/@import/link/script, except in-page anchors and SVG fragment refs."""
    found = re.findall(r"""(?:src|href|xlink:href|action|poster|data)\s*=\s*["']([^"']*)["']""", html, flags=re.I)
    found = [f for f in found if not f.startswith("#")]
    found += [u for u in re.findall(r"url\(\s*['\"]?([^)'\"]*)", html) if not u.startswith("#")]
    found += re.findall(r"@import[^;]*", html)
    found += re.findall(r"<(?:script|link|iframe|img|object|embed|audio|video|source)\b[^>]*>", html, flags=re.I)
    return found


def test_report_is_self_contained(two_runs: tuple[Store, Path]) -> None:
    html = render(*two_runs, now=NOW)
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert _external_references(html) == []
    assert "default-src 'none'" in html  # the browser itself refuses any fetch
    assert "<script" not in html


def test_gate_board_broken_edge_mismatch_and_both_runs(two_runs: tuple[Store, Path]) -> None:
    html = render(*two_runs, now=NOW)
    for gate, status in ((1, "pass"), (2, "fail"), (3, "fail"), (4, "pass")):
        assert f'data-gate="{gate}" data-status="{status}"' in html
    assert 'data-edge="orders->catalog" data-status="fail"' in html
    assert 'data-edge="web->orders" data-status="pass"' in html
    assert 'data-edge="orders->bus" data-status="unchecked"' in html
    assert "Actual map is missing the following keys: price_cents" in html and "<code>$</code>" in html
    assert BROKEN_ITEM.replace(">", "&gt;") in html
    assert "AssertionError: assert &#39;price&#39; == &#39;price_cents&#39; (case 4)" in html
    for chart in ("chart-pass-rate", "chart-duration", "chart-flaky", "chart-defects"):
        assert f'id="{chart}"' in html
    assert "run-good" in html and "run-broken" in html
    model = build_model(*two_runs)
    assert [p["run_id"] for p in model["history"]["trend"]] == ["run-good", "run-broken"]
    assert [p["contract_pass_rate"] for p in model["history"]["trend"]][0] == 1.0
    assert model["defects"]["total"] == 2 and model["defects"]["rows"][0]["severity"] == "critical"


def test_coverage_matrix_marks_the_broken_contract_and_uncovered_interfaces(two_runs: tuple[Store, Path]) -> None:
    model = build_model(*two_runs)
    matrix = model["matrix"]
    assert matrix["kinds"][:3] == ["environment", "schema", "openapi"] and "pact" in matrix["kinds"] and "test" in matrix["kinds"]
    rows = {r["id"]: r for r in matrix["rows"]}
    assert rows["catalog:GET /products/{id}"]["cells"]["pact"] == {"count": 2, "status": "fail", "refs": [BROKEN_ITEM, "orders->catalog: a request for a missing product"]}
    assert rows["orders:POST /orders"]["cells"]["pact"]["status"] == "pass"
    assert rows["shopdb:table products"]["cells"]["environment"]["status"] is None  # recorded, no per-check verdict
    assert all(r["covered"] for r in matrix["rows"])


def test_same_inputs_render_identically_and_write_report_is_atomic(two_runs: tuple[Store, Path], tmp_path: Path) -> None:
    store, artifacts = two_runs
    first, second = render(store, artifacts), render(store, artifacts)
    strip = lambda html: "\n".join(line for line in html.splitlines() if "data-generated-at" not in line)  # noqa: E731
    assert strip(first) == strip(second)
    assert sum("data-generated-at" in line for line in first.splitlines()) == 1
    out = write_report(store, artifacts, tmp_path / "out" / REPORT_NAME, now=NOW)
    assert out.read_text("utf-8") == render(store, artifacts, now=NOW)
    assert [p.name for p in out.parent.iterdir()] == [REPORT_NAME]


def test_without_history_or_artifacts_it_says_what_did_not_run(tmp_path: Path) -> None:
    html = render(None, tmp_path / "empty", now=NOW)
    for missing in ("gate-results.json", "contract-validation-results.json", "test-execution-report.json", "environment-validation-report.json"):
        assert missing in html
    assert "No run history store was given." in html and 'class="chart"' not in html
    with open_store(None, tmp_path) as store:
        assert "0 runs" in render(store, tmp_path / "empty", now=NOW)


def test_text_from_artifacts_is_escaped(tmp_path: Path) -> None:
    folder = write_sample(tmp_path / "x", tests=2, failing_tests=[sample_test_ids(2)[0]])
    path = folder / "test-execution-report.json"
    evil = "tests/test_x.py::test_<script>alert(1)</script>"
    path.write_text(path.read_text().replace(sample_test_ids(2)[0], evil))
    html = render(None, folder, now=NOW)
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_big_runs_are_summarised_not_listed(tmp_path: Path) -> None:
    with open_store(None, tmp_path) as store:
        sample_history(store, runs=30, tests=2000)
        failing = sample_test_ids(2000)[::7][:250]
        folder = write_sample(tmp_path / "big", run_id="big", tests=2000, failing_tests=failing)
        model = build_model(store, folder)
        html = render(store, folder, now=NOW)
    tests = model["tests"]
    assert tests["all"] is None and len(tests["failures"]) == 200 and tests["failures_more"] == 50
    assert len(tests["modules"]) == 40 and sum(m["fail"] for m in tests["modules"]) == 250
    assert 'id="test-list"' not in html and "… and 50 more failures" in html
    assert len(model["history"]["trend"]) == 30 and model["history"]["flaky_total"] >= len(model["history"]["flaky"]) > 0
    assert len(html.encode()) < 600_000, len(html.encode())


def test_graph_layout_puts_consumers_left_of_providers_and_survives_cycles() -> None:
    nodes = [{"name": n, "kind": "service", "detail": "http", "owner": None} for n in ("a", "b", "c")]
    edge = lambda a, b, s="pass": {"consumer": a, "provider": b, "via": "pact", "interfaces": [], "status": s, "total": 1, "passed": 1, "failed": 0, "failing": [], "contracts": []}  # noqa: E731
    place = layout(nodes, [edge("a", "b"), edge("b", "c")])
    assert place["a"][0] < place["b"][0] < place["c"][0]
    cyclic = [edge("a", "b"), edge("b", "c"), edge("c", "a", "fail")]
    place = layout(nodes, cyclic)
    assert len(set(place.values())) == 3
    svg = str(graph_svg({"nodes": nodes, "edges": cyclic}))
    assert svg.count('class="edge ') == 3 and 'data-status="fail"' in svg


def test_line_chart_gaps_and_escaping() -> None:
    svg = str(line_chart("c", "<title>", ["r1", "r2", "r3", "r4"], [("s", "#000", [1.0, None, 2.0, 3.0])]))
    assert svg.count("<polyline") == 1  # one segment after the gap; a lone point is a dot
    assert svg.count("<circle") == 3 and "&lt;title&gt;" in svg
    assert "no data yet" in str(line_chart("e", "empty", [], [("s", "#000", [])]))


def test_model_is_plain_json(two_runs: tuple[Store, Path]) -> None:
    model = build_model(*two_runs)
    assert json.loads(json.dumps(model)) == model
