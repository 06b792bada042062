"""interlock's pytest plugin: markers, interface mapping and result metadata.

Loaded through the `pytest11` entry point in every pytest run of this venv
(interlock's own suite too), so it stays inert unless asked: it registers
markers and a fixture, and writes or adds nothing unless `--interlock-collect`
is given or pytest-json-report is producing a report.

- `@pytest.mark.integration`: selected by the protocol's `pytest -m integration`.
- `@pytest.mark.critical`: a failure here is a critical defect.
- `@pytest.mark.interface("catalog:GET /products/{id}", ...)`: the interfaces a
  test covers, which the scope step maps to the scope matrix.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import pytest

MARKERS = (
    "integration: an integration test, selected by the protocol's `pytest -m integration`",
    "critical: a failure of this test is a critical defect",
    "interface(*ids): interface ids this test covers, e.g. interface('catalog:GET /products/{id}')",
)
_COLLECT_PATH = pytest.StashKey[Path]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("interlock", "interlock integration validation")
    group.addoption(
        "--interlock-collect", metavar="PATH", default=None,
        help="with --collect-only: write the selected tests, their markers and interface ids as JSON to PATH",
    )


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    path = config.getoption("interlock_collect", None)
    if path:
        config.stash[_COLLECT_PATH] = Path(path).absolute()


def interfaces_of(item: pytest.Item) -> list[str]:
    """The interface ids of every `interface` marker on the item (closest first), without repeats."""
    ids: list[str] = []
    for marker in item.iter_markers("interface"):
        for value in marker.args:
            if not isinstance(value, str):
                raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.interface takes interface ids as strings, got {value!r}")
            if value not in ids:
                ids.append(value)
    return ids


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Reject a malformed `interface` marker at collection, with the test's id, not mid-run."""
    for item in items:
        interfaces_of(item)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Write the tests left after `-m`/`-k` deselection (node ids relative to `rootdir`), so scope sees what the suite would run."""
    path = session.config.stash.get(_COLLECT_PATH, None)
    if path is None:
        return
    from interlock.artifacts import atomic_write  # lazy: keeps plain pytest runs light

    tests = [
        {"nodeid": item.nodeid, "markers": sorted({m.name for m in item.iter_markers()}), "interfaces": interfaces_of(item)}
        for item in session.items
    ]
    data = {"rootdir": str(session.config.rootpath), "tests": tests}
    atomic_write(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))


@pytest.hookimpl(optionalhook=True)
def pytest_json_runtest_metadata(item: pytest.Item, call: pytest.CallInfo[Any]) -> dict[str, Any]:
    """Put interface ids and the critical flag in pytest-json-report's per-test metadata.

    `optionalhook`: the hook exists only when pytest-json-report is active
    (`--json-report`); without it pytest never calls this and does not complain.
    """
    return {"interfaces": interfaces_of(item), "critical": item.get_closest_marker("critical") is not None}


def service_env_var(name: str) -> str:
    """The variable interlock sets for a service's URL (as in RunContext.base_env)."""
    return f"INTERLOCK_SERVICE_{name.upper().replace('-', '_')}_URL"


@pytest.fixture
def service_url() -> Callable[[str], str]:
    """`service_url("catalog")` is the catalog's base URL in the environment under test."""

    def url(name: str) -> str:
        variable = service_env_var(name)
        value = os.environ.get(variable, "")
        if not value:
            pytest.fail(f"no URL for service {name!r}: {variable} is not set; run the suite through `interlock test`", pytrace=False)
        return value

    return url
