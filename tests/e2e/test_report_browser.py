"""The HTML report in a real browser: Debian's Chromium, headless, driven by Playwright, from a file:// URL.

Checks that the gate board, the dependency graph and the trend charts render
(present and visible), that the page asks for nothing but its own file (every
other request is routed to abort and recorded, and none may happen), and saves
a screenshot. The second test does it for two real demo runs, the second with
a broken contract, and also validates that run's JUnit XML.

Chromium comes from the Makefile's test setup (`apt-get install -y chromium`);
without /usr/bin/chromium the tests fail under CI=true and skip elsewhere.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from interlock.junit import junit_xml
from interlock.report import REPORT_NAME, write_report
from tests.sample import BROKEN_ITEM, sample_test_ids, write_sample
from interlock.store import open_store
from tests.unit.test_junit import validate as validate_junit

from .conftest import Finished

pytestmark = pytest.mark.e2e
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        _unavailable(f"{CHROMIUM} is missing: `apt-get update && apt-get install -y chromium` (the Makefile's test setup does it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed: pip install -e '.[test]'")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


def open_report(browser: Any, report: Path) -> tuple[Any, Any, list[str], list[str]]:
    """A page showing `report`; every request is recorded, anything but file:// aborted; console errors collected."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    requests: list[str] = []
    errors: list[str] = []

    def route(r: Any) -> None:
        requests.append(r.request.url)
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(report.resolve().as_uri(), wait_until="load")
    return context, page, requests, errors


def check_report(page: Any, *, runs: int, edges: int, broken_edge: str) -> None:
    """The gate board, the graph with its broken edge, and the four charts are there and visible."""
    gates = page.locator("#gate-board .gate")
    assert gates.count() == 4
    for i in range(4):
        assert gates.nth(i).is_visible()
    assert page.locator('#gate-board .gate[data-gate="2"]').get_attribute("data-status") == "fail"
    graph = page.locator("svg#graph")
    assert graph.is_visible()
    box = graph.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 80
    assert page.locator("svg#graph g.edge").count() == edges
    assert page.locator("svg#graph g.node").count() >= 5
    broken = page.locator(f'svg#graph g.edge[data-edge="{broken_edge}"]')
    assert broken.get_attribute("data-status") == "fail"
    assert broken.locator("path").get_attribute("stroke") == "#cf222e"
    assert broken.locator("path").is_visible()
    charts = page.locator("#charts svg.chart")
    assert charts.count() == 4
    for i in range(4):
        chart = charts.nth(i)
        assert chart.is_visible()
        size = chart.bounding_box()
        assert size is not None and size["width"] > 200 and size["height"] > 100
    pass_rate = page.locator("#chart-pass-rate")
    assert pass_rate.locator("circle").count() == 2 * runs  # tests and contracts, one point per run each
    assert pass_rate.locator("polyline").count() >= 1
    assert page.locator("#run-strip rect").count() == runs
    assert page.locator("#runs-table tr").count() == runs + 1


def no_network(requests: list[str], errors: list[str]) -> None:
    assert requests, "the page itself was not requested"
    assert [u for u in requests if not u.startswith("file://")] == []
    assert errors == []


def test_report_renders_in_chromium_from_a_file_url_without_network(browser: Any, tmp_path: Path) -> None:
    with open_store(None, tmp_path) as store:
        good = write_sample(tmp_path / "good", run_id="run-good", tests=30, started_at=T0)
        store.record_run(good, git_commit="c1")
        broken = write_sample(tmp_path / "broken", run_id="run-broken", tests=30, started_at=T0 + timedelta(hours=1), broken_contract=True,
                              failing_tests=[sample_test_ids(30)[5]])
        store.record_run(broken, git_commit="c2")
        report = write_report(store, broken, tmp_path / REPORT_NAME)
    context, page, requests, errors = open_report(browser, report)
    try:
        check_report(page, runs=2, edges=8, broken_edge="orders->catalog")
        failure = page.locator(f'.contract-failure[data-item="{BROKEN_ITEM}"]')
        assert failure.is_visible() and "Actual map is missing the following keys: price_cents" in failure.inner_text()
        assert page.locator(".test-failure").count() == 1
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 20_000
        no_network(requests, errors)
    finally:
        context.close()


def test_two_demo_runs_one_with_a_broken_contract(browser: Any, passed_run: Finished, rating_run: Finished, tmp_path: Path) -> None:
    store_root = tmp_path / "history"
    first = passed_run.run  # `run --env integration --yes`, once a session
    assert first.code == 0, first.output
    with open_store(None, store_root) as store:
        store.record_run(passed_run.copy(tmp_path / "first").artifacts, git_commit="demo-1")
    # the consumer now expects a field the provider does not serve: exactly one contract item fails (the session's rating_run)
    shop, second = rating_run.copy(tmp_path / "shop"), rating_run.run
    assert second.code == 1, second.output
    with open_store(None, store_root) as store:
        store.record_run(shop.artifacts, git_commit="demo-2")
        assert [r.status for r in store.runs()] == ["fail", "pass"]
        report = write_report(store, shop.artifacts, tmp_path / REPORT_NAME)

    document = junit_xml(shop.artifacts)
    validate_junit(document, tmp_path)
    failed = [(c.get("classname"), c.get("name")) for c in ET.fromstring(document).iter("testcase")
              if c.find("failure") is not None and c.get("classname", "").startswith("contracts.")]
    assert failed == [("contracts.pact:orders->catalog", "orders->catalog: a request for product 1")]

    context, page, requests, errors = open_report(browser, report)
    try:
        check_report(page, runs=2, edges=8, broken_edge="orders->catalog")
        assert page.locator('svg#graph g.edge[data-status="fail"]').count() == 1
        failure = page.locator('.contract-failure[data-item="orders->catalog: a request for product 1"]')
        assert failure.is_visible() and "rating" in failure.inner_text()
        page.screenshot(path=str(tmp_path / "demo-report.png"), full_page=True)
        no_network(requests, errors)
    finally:
        context.close()
