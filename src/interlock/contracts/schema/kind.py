"""The schema contract kind: the entries of the config, what the config artifact records, and the verification of every store."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import sqlalchemy

from interlock.paths import shown
from interlock.config import Config, SchemaContract
from interlock.contracts.schema.document import FAMILIES, SPEC_VERSION, load_spec
from interlock.contracts.schema.live import StoreView, inspect_store
from interlock.contracts.schema.records import Entry, records
from interlock.errors import Problem, UsageError
from interlock.events import Progress
from interlock.probes import redact_url
from interlock.context import RunContext


def entries(ctx: RunContext) -> list[Entry]:
    """Every `[[contracts.schema]]` entry with its loaded spec; an unknown service or store, or a bad spec, is a UsageError."""
    declared: list[SchemaContract] = ctx.config.contracts.schema_
    config = str(ctx.loaded.path)
    problems = []
    for index, contract in enumerate(declared):
        if contract.service not in ctx.config.services:
            problems.append(Problem(config, f"service {contract.service!r} is not declared under [services]", key=f"contracts.schema[{index}].service"))
        if contract.store not in ctx.env.stores:
            problems.append(Problem(config, f"store {contract.store!r} is not defined in environment {ctx.env_name!r}", key=f"contracts.schema[{index}].store"))
    if problems:
        error = UsageError(problems[0])
        error.problems = problems
        raise error
    per_store: dict[tuple[str, str], int] = {}
    for contract in declared:
        per_store[(contract.service, contract.store)] = per_store.get((contract.service, contract.store), 0) + 1
    found = []
    for index, contract in enumerate(declared):
        label = contract.service if per_store[(contract.service, contract.store)] == 1 else f"{contract.service} ({contract.path})"
        found.append(Entry(index, contract, load_spec(ctx.loaded.resolve(contract.path)), label))
    return found


def _source(ctx: RunContext, path: Path) -> str:
    return shown(path, ctx.loaded.root)


def settings(ctx: RunContext) -> dict[str, Any] | None:
    """What contract-validation-config.json records of the schema checks."""
    if not ctx.config.contracts.schema_:
        return None
    found = entries(ctx)
    stores = sorted({e.contract.store for e in found})
    return {
        "inspector": "sqlalchemy.inspect (live reflection, one connection per store)", "sqlalchemy": sqlalchemy.__version__,
        "spec_version": SPEC_VERSION,
        "specs": [
            {"service": e.contract.service, "store": e.contract.store, "path": _source(ctx, e.spec.path), "sha256": e.spec.sha256, "tables": sorted(e.spec.tables)}
            for e in found
        ],
        "stores": {name: {"kind": ctx.env.stores[name].kind, "url": redact_url(ctx.env.stores[name].url)} for name in stores},
        "connect_timeout_s": ctx.env.probe_timeout, "concurrency": max(1, len(stores)), "type_families": list(FAMILIES),
    }


def verify(ctx: RunContext) -> list[dict[str, Any]]:
    """Inspect every store the specs name (stores side by side) and compare; one record per `[[contracts.schema]]` entry."""
    found = entries(ctx)
    wanted: dict[str, list[str]] = {}
    for entry in found:
        names = wanted.setdefault(entry.contract.store, [])
        names += [t for t in entry.spec.tables if t not in names]
    views: dict[str, StoreView] = {}
    ctx.emit(Progress("2.2", 0, len(wanted), "schema stores inspected"))
    if wanted:
        with ThreadPoolExecutor(max_workers=min(len(wanted), 8)) as pool:
            futures = {
                name: pool.submit(inspect_store, ctx.env.stores[name].kind, ctx.env.stores[name].url, tables, ctx.env.probe_timeout)
                for name, tables in wanted.items()
            }
            for done, (name, future) in enumerate(futures.items(), 1):
                views[name] = future.result()
                ctx.emit(Progress("2.2", done, len(wanted), "schema stores inspected"))
    for entry in found:
        views.setdefault(entry.contract.store, StoreView(entry.contract.store))
    return records(found, views)


class SchemaKind:
    """Shared-storage schemas as a contract kind (`interlock.contracts.kinds`): every store is inspected, so `--only` cuts its records after."""

    name = "schema"
    prefixes = ("schema:",)

    def declared(self, config: Config) -> bool:
        return bool(config.contracts.schema_)

    def prepare(self, ctx: RunContext, only: Sequence[str]) -> None:
        return None

    def settings(self, ctx: RunContext, prepared: None) -> dict[str, Any] | None:
        return settings(ctx)

    def verify(self, ctx: RunContext, prepared: None) -> list[dict[str, Any]]:
        return verify(ctx)

    def interfaces(self, ctx: RunContext, interfaces: dict[str, dict[str, Any]]) -> None:
        """The table interface of every table a spec declares (tables the migrations create)."""
        for entry in ctx.config.contracts.schema_:
            for table in load_spec(ctx.loaded.resolve(entry.path)).tables:
                key = f"{entry.store}:table {table}"
                if key in interfaces:
                    interfaces[key]["checks"].append({"kind": "schema", "ref": f"schema {entry.path} ({entry.service})"})


KIND = SchemaKind()
