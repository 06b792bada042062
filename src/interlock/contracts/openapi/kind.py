"""The OpenAPI contract kind: the services the config selects, what the config artifact records, and the verification of each."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from typing import Any

import interlock.contracts.openapi.schemathesis_run as schemathesis_run
from interlock.config import Config
from interlock.contracts.actions import perform
from interlock.contracts.openapi.document import load
from interlock.contracts.openapi.plan import operations
from interlock.contracts.openapi.run import verify_document
from interlock.contracts.openapi.spec import CURRENT_31
from interlock.events import Progress
from interlock.probes import redact_url
from interlock.statuses import ContractStatus
from interlock.context import RunContext


def selected(ctx: RunContext) -> list[tuple[str, str | None]]:
    """(service, document) for every service the config asks to check: `services`, else every service with a document."""
    config = ctx.config.contracts.openapi
    names = config.services if config.services is not None else [n for n, s in ctx.config.services.items() if s.openapi]
    return [(n, ctx.config.services[n].openapi if n in ctx.config.services else None) for n in names]


def _missing_record(service: str, known: bool) -> dict[str, Any]:
    why = f"service {service!r} has no `openapi` document in [services.{service}]" if known else f"[contracts.openapi] services names {service!r}, which is not a service of [services]"
    return {"id": f"openapi:-->{service}", "kind": "openapi", "consumer": "openapi:-", "provider": service, "source": "interlock.toml [contracts.openapi]",
            "specification": None, "status": ContractStatus.NOT_EXECUTED, "duration_ms": 0.0, "reason": why, "interactions": []}



def settings(ctx: RunContext) -> dict[str, Any] | None:
    """What contract-validation-config.json records of the OpenAPI validator."""
    config = ctx.config.contracts.openapi
    if config is None:
        return None
    documents = []
    for service, source in selected(ctx):
        if source is None:
            documents.append({"service": service, "path": None, "openapi": None, "sha256": None, "error": _missing_record(service, service in ctx.config.services)["reason"]})
            continue
        doc = load(service, source, ctx.loaded.root)
        runtime = ctx.env.services.get(service)
        documents.append({"service": service, "path": source, "openapi": doc.version, "sha256": doc.sha256, "base_path": doc.base_path or "/",
                          "operations": len(operations(doc.app.spec, service)) if doc.app else 0,
                          "url": redact_url(runtime.url) if runtime else None, **({"error": doc.error} if doc.error else {})})

    return {
        "validator": "openapi-core (request and response validation: status, headers, body)", "openapi_core": _version("openapi-core"),
        "document_check": f"openapi-spec-validator {_version('openapi-spec-validator')}: its OpenAPI 3.0 schema; for 3.1 the official {CURRENT_31}",
        "documents": documents, "request_timeout": config.request_timeout, "fixtures": sorted(config.fixtures),
        "unused_fixtures": sorted(k for k in config.fixtures if k.split(":", 1)[0] not in {d["service"] for d in documents}),
        "requests": "built from the document's examples; a fixture for the interface id overrides them",
        "concurrency": max(1, len(documents)), "requests_per_service": 1,
        "schemathesis": schemathesis_run.settings(config.schemathesis),
    }


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def verify(ctx: RunContext) -> list[dict[str, Any]]:
    """Check every selected service's document, services concurrently; one record per document (and per Schemathesis run)."""

    config = ctx.config.contracts.openapi
    stores = ctx.stores()
    env, cwd = ctx.base_env(), str(ctx.loaded.root)

    def perform_setup(action: Any) -> None:
        perform(ctx.spec.expand_all(action.model_dump(by_alias=True, exclude_none=True)), stores, env=env, cwd=cwd)

    fixtures = {key: list(values) for key, values in config.fixtures.items()}
    jobs = selected(ctx)

    def one(service: str, source: str | None) -> list[dict[str, Any]]:
        if source is None:
            return [_missing_record(service, service in ctx.config.services)]
        runtime = ctx.env.services.get(service)
        url = runtime.url if runtime else None
        doc = load(service, source, ctx.loaded.root)
        records = [verify_document(doc, url, fixtures, config.request_timeout, perform_setup)]
        if service in config.schemathesis:
            records.append(schemathesis_run.run(doc, url, config.request_timeout))
        return records

    records: list[dict[str, Any]] = []
    ctx.emit(Progress("2.2", 0, len(jobs), "openapi services verified"))
    with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
        futures = [pool.submit(one, service, source) for service, source in jobs]
        for done, future in enumerate(futures, 1):
            records += future.result()
            ctx.emit(Progress("2.2", done, len(jobs), "openapi services verified"))
    checked = {service for service, _ in jobs}
    for service in config.schemathesis:
        if service not in checked:
            records.append({**_missing_record(service, service in ctx.config.services), "id": f"schemathesis:-->{service}", "consumer": "schemathesis:-",
                            "reason": f"[contracts.openapi] schemathesis names {service!r}, which is not among the services whose OpenAPI document is checked"})
    return records


class OpenApiKind:
    """OpenAPI as a contract kind (`interlock.contracts.kinds`): every document is checked whole, so `--only` cuts its records after."""

    name = "openapi"
    prefixes = ("openapi:", "schemathesis:")

    def declared(self, config: Config) -> bool:
        return config.contracts.openapi is not None

    def prepare(self, ctx: RunContext, only: Sequence[str]) -> None:
        return None

    def settings(self, ctx: RunContext, prepared: None) -> dict[str, Any] | None:
        return settings(ctx)

    def verify(self, ctx: RunContext, prepared: None) -> list[dict[str, Any]]:
        return verify(ctx)

    def interfaces(self, ctx: RunContext, interfaces: dict[str, dict[str, Any]]) -> None:
        """Every HTTP interface of a checked service's document: step 2.2 exercises each operation."""
        contracts = ctx.config.contracts
        assert contracts.openapi is not None
        names = contracts.openapi.services if contracts.openapi.services is not None else [n for n, s in ctx.config.services.items() if s.openapi]
        for interface in interfaces.values():
            if interface["kind"] == "http" and interface["service"] in names and interface["source"] == ctx.config.services[interface["service"]].openapi:
                interface["checks"].append({"kind": "openapi", "ref": f"openapi {interface['source']}"})


KIND = OpenApiKind()
