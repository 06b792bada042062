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
_SHARD_OUT = pytest.StashKey[Path]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("interlock", "interlock integration validation")
    group.addoption(
        "--interlock-collect", metavar="PATH", default=None,
        help="with --collect-only: write the selected tests, their markers and interface ids as JSON to PATH",
    )
    group.addoption("--interlock-shard", metavar="K/N", default=None, help="run only shard K of N of the selected tests (deterministic)")
    group.addoption("--interlock-root", metavar="DIR", default=None, help="the system's root: shards are computed over node ids relative to it")
    group.addoption("--interlock-durations", metavar="PATH", default=None, help="JSON {nodeid: seconds} of a previous run, to balance shards")
    group.addoption("--interlock-shard-out", metavar="PATH", default=None, help="write the shard's plan (suite digest, selection) as JSON to PATH")
    group.addoption("--interlock-keep", metavar="PATH", default=None,
                    help="JSON list of node ids, modules or folders (relative to --interlock-root): deselect every other test")


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


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Reject a malformed `interface` marker at collection, with the test's id, not mid-run; then keep only this shard.

    `trylast`: sharding splits what `-m`/`-k` left, so every shard sees the same suite.
    """
    for item in items:
        interfaces_of(item)
    keep = config.getoption("interlock_keep", None)
    if keep:
        _keep_listed(config, items, Path(keep))
    spec = config.getoption("interlock_shard", None)
    if spec:
        _keep_shard(config, items, spec)


def _keep_listed(config: pytest.Config, items: list[pytest.Item], listing: Path) -> None:
    """Keep the listed tests and everything under a listed module or folder; a listed test that no longer exists is just absent."""
    from interlock.shards import relocate

    wanted = json.loads(listing.read_text("utf-8"))
    exact = set(wanted)
    prefixes = tuple(p for w in wanted if "::" not in w for p in (w + "::", w.rstrip("/") + "/"))
    root = Path(config.getoption("interlock_root") or config.rootpath)
    keep, dropped = [], []
    for item in items:
        nodeid = relocate(item.nodeid, config.rootpath, root)
        (keep if nodeid in exact or nodeid.startswith(prefixes) else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = keep


def _keep_shard(config: pytest.Config, items: list[pytest.Item], spec: str) -> None:
    """Deselect every item outside shard K/N; write the shard's plan for interlock (each xdist worker writes the same)."""
    from interlock.shards import Shard, plan, relocate  # lazy: plain pytest runs never load it

    try:
        shard = Shard.parse(spec)
    except ValueError as exc:
        raise pytest.UsageError(f"--interlock-shard: {exc}") from None
    root = Path(config.getoption("interlock_root") or config.rootpath)
    ids = [relocate(item.nodeid, config.rootpath, root) for item in items]
    durations_path = config.getoption("interlock_durations", None)
    durations = json.loads(Path(durations_path).read_text("utf-8")) if durations_path else None
    shard_plan = plan(ids, shard, durations)
    chosen = set(shard_plan["selection"])
    keep = [item for item, nodeid in zip(items, ids) if nodeid in chosen]
    dropped = [item for item, nodeid in zip(items, ids) if nodeid not in chosen]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = keep
    out = config.getoption("interlock_shard_out", None)
    if out:  # each xdist worker writes the same plan: write beside it, then rename over it
        temp = Path(f"{out}.{os.getpid()}.tmp")
        temp.write_text(json.dumps(shard_plan) + "\n", "utf-8")
        os.replace(temp, out)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Write the tests left after `-m`/`-k` deselection (node ids relative to `rootdir`), so scope sees what the suite would run."""
    path = session.config.stash.get(_COLLECT_PATH, None)
    if path is None:
        return
    from interlock.files import atomic_write  # lazy: keeps plain pytest runs light

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
