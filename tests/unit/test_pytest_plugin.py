"""interlock's pytest plugin, run inside pytester's throwaway sessions."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]
# pytester restores sys.modules after each in-process run, so hypothesis's plugin would re-import hypothesis (~1 s) every time.
QUIET = ("-p", "no:hypothesispytest")

SHOP_TESTS = """
import pytest

pytestmark = pytest.mark.integration

@pytest.mark.critical
@pytest.mark.interface("catalog:GET /products/{id}")
def test_product():
    pass

@pytest.mark.interface("orders:POST /orders", "catalog:GET /products/{id}")
def test_order():
    pass

def test_plain():
    pass
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*QUIET, *args)


def test_markers_are_registered(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.integration:*", "@pytest.mark.critical:*", "@pytest.mark.interface(*ids):*"])


def test_markers_pass_strict_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_shop=SHOP_TESTS)
    run(pytester, "--strict-markers").assert_outcomes(passed=3)


def test_collect_writes_selected_tests_with_interfaces(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_shop=SHOP_TESTS, test_unit="def test_unit():\n    pass\n")
    out = pytester.path / "out" / "collected.json"
    result = run(pytester, "--collect-only", "-q", "-m", "integration", f"--interlock-collect={out}")
    assert result.ret == 0
    data = json.loads(out.read_text())
    assert data["rootdir"] == str(pytester.path)
    assert data["tests"] == [
        {"nodeid": "test_shop.py::test_product", "markers": ["critical", "integration", "interface"], "interfaces": ["catalog:GET /products/{id}"]},
        {"nodeid": "test_shop.py::test_order", "markers": ["integration", "interface"], "interfaces": ["orders:POST /orders", "catalog:GET /products/{id}"]},
        {"nodeid": "test_shop.py::test_plain", "markers": ["integration"], "interfaces": []},
    ]


def test_collect_of_nothing_writes_an_empty_list(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_unit="def test_unit():\n    pass\n")
    out = pytester.path / "collected.json"
    run(pytester, "--collect-only", "-m", "integration", f"--interlock-collect={out}")
    assert json.loads(out.read_text())["tests"] == []


def test_plugin_is_inert_without_its_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_shop=SHOP_TESTS)
    run(pytester, "--collect-only").assert_outcomes()
    assert sorted(p.name for p in pytester.path.iterdir()) == ["test_shop.py"]


def test_json_report_metadata_has_interfaces_and_critical(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_shop=SHOP_TESTS)
    report = pytester.path / "report.json"
    run(pytester, "--json-report", f"--json-report-file={report}").assert_outcomes(passed=3)
    metadata = {t["nodeid"]: t["metadata"] for t in json.loads(report.read_text())["tests"]}
    assert metadata == {
        "test_shop.py::test_product": {"interfaces": ["catalog:GET /products/{id}"], "critical": True},
        "test_shop.py::test_order": {"interfaces": ["orders:POST /orders", "catalog:GET /products/{id}"], "critical": False},
        "test_shop.py::test_plain": {"interfaces": [], "critical": False},
    }


def test_runs_without_json_report_plugin(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_shop=SHOP_TESTS)
    run(pytester, "-p", "no:pytest_jsonreport").assert_outcomes(passed=3)


def test_malformed_interface_marker_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bad="import pytest\n@pytest.mark.interface(42)\ndef test_x():\n    pass\n")
    result = run(pytester, )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_bad.py::test_x: @pytest.mark.interface takes interface ids as strings, got 42*"])


def test_service_url_reads_the_environment(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLOCK_SERVICE_ORDER_API_URL", "http://127.0.0.1:8001")
    monkeypatch.delenv("INTERLOCK_SERVICE_CATALOG_URL", raising=False)
    pytester.makepyfile(test_urls="""
        def test_set(service_url):
            assert service_url("order-api") == "http://127.0.0.1:8001"
        def test_unset(service_url):
            service_url("catalog")
    """)
    result = run(pytester, )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*no URL for service 'catalog': INTERLOCK_SERVICE_CATALOG_URL is not set*"])


# ---- the SelectionRecorder: what pytest really selected -----------------------------------------------------------


def recorded(pytester: pytest.Pytester, *args: str, subprocess: bool = False) -> dict:
    out = pytester.path / "selection.json"
    options = ("-p", "no:cacheprovider", "-m", "integration", f"--interlock-selection={out}", "--interlock-suite-marker", "integration", *args)
    if subprocess:
        pytester.runpytest_subprocess(*QUIET, *options)
    else:
        run(pytester, *options)
    return json.loads(out.read_text())


def test_the_record_names_k_from_pytest_addopts_and_what_it_took_away(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock.selection import Suite, decide

    monkeypatch.setenv("PYTEST_ADDOPTS", "-k order")
    pytester.makepyfile(test_shop=SHOP_TESTS, test_unit="def test_unit():\n    pass\n")
    record = recorded(pytester)
    assert (record["keyword"], record["markexpr"], record["environment"]["PYTEST_ADDOPTS"]) == ("order", "integration", "-k order")
    collection = record["collection"]
    assert collection["collected"] == ["test_shop.py::test_product", "test_shop.py::test_order", "test_shop.py::test_plain", "test_unit.py::test_unit"]
    assert collection["suite"] == collection["collected"][:3] and collection["critical"] == ["test_shop.py::test_product"]
    assert collection["selected"] == ["test_shop.py::test_order"] == record["ran"]
    assert set(collection["deselected"]) == {"test_shop.py::test_product", "test_shop.py::test_plain", "test_unit.py::test_unit"}
    decision = decide(record, Suite("integration", ".", pytester.path))
    assert decision.reasons[0] == "-k 'order' from PYTEST_ADDOPTS"
    assert decision.reasons[1].startswith("2 of the suite's 3 test(s) not selected: test_shop.py::test_product, test_shop.py::test_plain")
    assert decision.section is not None and decision.section["critical_not_selected"] == ["test_shop.py::test_product"]


def test_the_whole_suite_under_xdist_is_recorded_from_the_workers(pytester: pytest.Pytester) -> None:
    from interlock.selection import Suite, decide

    pytester.makepyfile(test_shop=SHOP_TESTS, test_unit="def test_unit():\n    pass\n")
    record = recorded(pytester, "-n", "2", subprocess=True)
    assert record["collections"] == 2 and record["collections_agree"] is True
    assert sorted(record["ran"]) == sorted(record["collection"]["selected"]) and len(record["ran"]) == 3
    assert decide(record, Suite("integration", ".", pytester.path)).reasons == []


def test_a_shard_deselection_is_attributed_to_the_shard(pytester: pytest.Pytester) -> None:
    from interlock.selection import Suite, decide

    pytester.makepyfile(test_shop=SHOP_TESTS)
    record = recorded(pytester, "--interlock-shard", "1/2", "--interlock-root", str(pytester.path))
    assert record["shard"] == "1/2" and set(record["collection"]["deselected"].values()) == {"--interlock-shard"}
    decision = decide(record, Suite("integration", ".", pytester.path, extra=["--interlock-shard", "1/2"]))
    assert decision.reasons == [] and decision.shard == "1/2"


def test_a_run_stopped_by_x_and_a_conftest_that_drops_tests_are_caught(pytester: pytest.Pytester) -> None:
    from interlock.selection import Suite, decide

    pytester.makepyfile(test_shop="import pytest\npytestmark = pytest.mark.integration\n"
                        "def test_a():\n    assert False\ndef test_b():\n    pass\ndef test_c():\n    pass\n")
    stopped = decide(recorded(pytester, "-x"), Suite("integration", ".", pytester.path))
    assert stopped.reasons == ["stopped early: 2 selected test(s) did not run (--maxfail=1): test_shop.py::test_b, test_shop.py::test_c"]
    pytester.makeconftest("def pytest_collection_modifyitems(items):\n    items[:] = [i for i in items if not i.name.endswith('c')]\n")
    dropped = decide(recorded(pytester), Suite("integration", ".", pytester.path))
    assert dropped.reasons == ["1 of the suite's 3 test(s) not selected: test_shop.py::test_c"]  # removed without pytest_deselected


def test_setup_only_passes_every_test_without_running_one_and_is_caught(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock.selection import Suite, decide

    monkeypatch.setenv("PYTEST_ADDOPTS", "--setup-only")
    pytester.makepyfile(test_shop="import pytest\npytestmark = pytest.mark.integration\ndef test_a():\n    assert False\n")
    record = recorded(pytester)
    assert record["bodies_skipped"] == ["--setup-only"] and record["ran"] == ["test_shop.py::test_a"]  # "ran", and its assert never did
    assert decide(record, Suite("integration", ".", pytester.path)).reasons == ["--setup-only from PYTEST_ADDOPTS: no test body ran"]
