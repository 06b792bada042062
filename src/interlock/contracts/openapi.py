"""OpenAPI contracts: every documented operation exercised against the running service, validated by openapi-core.

One record per service document (consumer `openapi:<doc path>`, provider the
service), one item per operation whose id is the scope matrix's interface id
(`catalog:GET /products/{id}`). Requests come from the document's examples or
from the config's fixtures for that interface id (a fixture's `setup` runs
first); the request that was really sent and the response that really came
back are both validated with openapi-core, every violation a mismatch at its
JSON path. An operation nothing can exercise is `not_executed`, a service that
does not answer makes its operations `error`: neither ever passes. Services are
checked concurrently, each service's operations one after another (setups and
the requests they prepare for must not interleave).
"""

from __future__ import annotations

import copy
import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import httpx

from interlock.contracts import openapi_spec
from interlock.contracts.openapi_check import Unreachable, exercise
from interlock.contracts.openapi_plan import Operation, Unexercised, operations, plan
from interlock.documents import load_document
from interlock.errors import Problem, UsageError
from interlock.events import Progress
from interlock.probes import redact_url
from interlock.runtime import RunContext

UNEXERCISED = "no example or fixture: unexercised"


@dataclass
class Document:
    """A service's OpenAPI document, loaded for validation (its servers reduced to their base path)."""

    service: str
    source: str  # as written in the config
    path: Path
    version: str | None = None
    sha256: str | None = None
    app: Any = None  # openapi_core.OpenAPI
    raw: dict[str, Any] | None = None  # the document as written
    base_path: str = ""
    problem: Problem | None = None  # why the document cannot be used: the file once, the JSON path, what to do

    @property
    def error(self) -> str | None:
        """The problem as one line, or None."""
        return None if self.problem is None else str(self.problem)


def base_path(raw: dict[str, Any]) -> str:
    """The path part of the document's first server URL (variables at their defaults): prefixed to every operation."""
    servers = raw.get("servers")
    server = servers[0] if isinstance(servers, list) and servers and isinstance(servers[0], dict) else {"url": "/"}
    url = str(server.get("url", "/"))
    variables = server.get("variables")
    for name, variable in (variables.items() if isinstance(variables, dict) else ()):
        url = url.replace("{" + str(name) + "}", str(variable.get("default", "") if isinstance(variable, dict) else ""))
    try:
        return urlsplit(url).path.rstrip("/")
    except ValueError:  # not a URL at all (a broken IPv6 host): the document's validation says so
        return ""


def load(service: str, source: str, root: Path) -> Document:
    """Parse and check the document; an unreadable or invalid one is a Document with `problem` (and `error`, its line)."""
    from openapi_core import Config, OpenAPI

    path = (root / source).resolve()
    doc = Document(service, source, path)
    try:
        raw = load_document(path)
        doc.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    except UsageError as exc:
        doc.problem = exc.problems[0]
        return doc
    if isinstance(raw, dict) and "swagger" in raw and "openapi" not in raw:
        doc.problem = Problem(str(path), f"unsupported version: swagger {raw['swagger']!r}; interlock validates OpenAPI 3.0 and 3.1 documents: convert it to OpenAPI 3", key="$.swagger")
        return doc
    if not isinstance(raw, dict) or "openapi" not in raw:
        doc.problem = Problem(str(path), "not an OpenAPI document (no `openapi` version key); give `openapi: 3.1.0` (or 3.0.x) at the top, or fix the [services] openapi path")
        return doc
    doc.version = str(raw["openapi"])
    doc.problem = openapi_spec.problem(raw, str(path), path.as_uri())
    if doc.problem is not None:
        return doc
    doc.raw, doc.base_path = raw, base_path(raw)
    # The service runs where the environment says, not where `servers` points: validate against the base path only.
    data = copy.deepcopy(raw)
    data["servers"] = [{"url": doc.base_path or "/"}]
    paths = data.get("paths")
    for item in (paths.values() if isinstance(paths, dict) else ()):
        if isinstance(item, dict):
            item.pop("servers", None)
            for operation in item.values():
                if isinstance(operation, dict):
                    operation.pop("servers", None)
    try:  # checked above against the specification (openapi_spec): openapi-core's own, older check is not repeated
        doc.app = OpenAPI.from_dict(data, base_uri=path.as_uri(), config=Config(spec_validator_cls=None))  # type: ignore[arg-type]  # None skips the check: openapi-core's documented switch, missing from its annotation
    except Exception as exc:  # noqa: BLE001 - whatever openapi-core cannot build on is a document problem, never a crash
        doc.problem = Problem(str(path), f"openapi-core cannot use this OpenAPI {doc.version} document: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; fix the document")
        doc.raw = None
    return doc


def item(operation: Operation, status: str, found: list[dict[str, Any]], duration_ms: float, states: list[str] | None = None) -> dict[str, Any]:
    return {"id": operation.interface_id, "description": operation.description, "provider_states": states or [], "status": status,
            "duration_ms": round(duration_ms, 3), "mismatches": found}


def unexercised(operation: Operation, why: Unexercised) -> dict[str, Any]:
    """An operation nothing could exercise: not executed, which Gate 2 counts as a failure."""
    return item(operation, "not_executed", [{"type": "unexercised", "path": None, "expected": str(why), "actual": None, "message": UNEXERCISED}], 0.0)


def check_operation(doc: Document, operation: Operation, fixtures: list[Any], client: httpx.Client, base_url: str,
                    perform_setup: Callable[[Any], None]) -> dict[str, Any]:
    """Every planned request of one operation; raises Unreachable when the service does not answer."""
    start = time.perf_counter()
    try:
        planned = plan(operation, fixtures)
    except Unexercised as exc:
        return unexercised(operation, exc)
    statuses, found = [], []
    for request in planned:
        status, problems = exercise(doc, operation, request, client, base_url, perform_setup)
        statuses.append(status)
        prefix = f"[{request.label}] " if len(planned) > 1 else ""
        found += [{**m, "message": prefix + m["message"]} for m in problems]
    status = "error" if "error" in statuses else "fail" if "fail" in statuses else "pass"
    states = [f"setup: {r.label}" for r in planned if r.setup is not None]
    return item(operation, status, found, (time.perf_counter() - start) * 1000, states)


def verify_document(doc: Document, base_url: str | None, fixtures: dict[str, list[Any]], timeout: float,
                    perform_setup: Callable[[Any], None]) -> dict[str, Any]:
    """The record of one service document."""
    start = time.perf_counter()
    record: dict[str, Any] = {
        "id": f"openapi:{doc.source}->{doc.service}", "kind": "openapi", "consumer": f"openapi:{doc.source}", "provider": doc.service,
        "source": doc.source, "specification": doc.version, "status": "error", "duration_ms": 0.0, "reason": doc.error, "interactions": [],
    }
    if doc.error:
        return record
    ops = operations(doc.app.spec, doc.service)
    items: list[dict[str, Any]] = []
    down: str | None = None if base_url else f"{doc.service} has no URL in this environment"
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for operation in ops:
            if down is not None:
                try:
                    plan(operation, fixtures.get(operation.interface_id, []))
                except Unexercised as exc:
                    items.append(unexercised(operation, exc))
                    continue
                items.append(item(operation, "error", [{"type": "error", "path": None, "message": f"not attempted: {down}"}], 0.0))
                continue
            assert base_url is not None  # `down` is set whenever there is no URL
            op_start = time.perf_counter()
            try:
                items.append(check_operation(doc, operation, fixtures.get(operation.interface_id, []), client, base_url.rstrip("/"), perform_setup))
            except Unreachable as exc:
                down = str(exc)
                items.append(item(operation, "error", [{"type": "error", "path": None, "message": down}], (time.perf_counter() - op_start) * 1000))
    documented = {op.interface_id for op in ops}
    for key in sorted(k for k in fixtures if k.split(":", 1)[0] == doc.service and k not in documented):
        items.append({"id": key, "description": "fixture for an undocumented operation", "provider_states": [], "status": "error", "duration_ms": 0.0,
                      "mismatches": [{"type": "fixture", "path": None, "message": f"[contracts.openapi.fixtures] names {key!r}, which {doc.source} does not document; fix the key or document the operation"}]})
    statuses = {i["status"] for i in items}
    record["interactions"] = items
    record["duration_ms"] = round((time.perf_counter() - start) * 1000, 3)
    if not items:
        record.update(status="not_executed", reason=f"{doc.source} documents no operation: nothing was verified")
    elif statuses == {"not_executed"}:
        record["status"] = "not_executed"
    elif statuses == {"pass"}:
        record["status"] = "pass"
    else:
        record["status"] = "error" if statuses <= {"error", "not_executed"} else "fail"
    if down:
        record["reason"] = down
    return record


# --- the kind's interface: settings(ctx) and verify(ctx) ------------------------------------------

def selected(ctx: RunContext) -> list[tuple[str, str | None]]:
    """(service, document) for every service the config asks to check: `services`, else every service with a document."""
    config = ctx.config.contracts.openapi
    names = config.services if config.services is not None else [n for n, s in ctx.config.services.items() if s.openapi]
    return [(n, ctx.config.services[n].openapi if n in ctx.config.services else None) for n in names]


def _missing_record(service: str, known: bool) -> dict[str, Any]:
    why = f"service {service!r} has no `openapi` document in [services.{service}]" if known else f"[contracts.openapi] services names {service!r}, which is not a service of [services]"
    return {"id": f"openapi:-->{service}", "kind": "openapi", "consumer": "openapi:-", "provider": service, "source": "interlock.toml [contracts.openapi]",
            "specification": None, "status": "not_executed", "duration_ms": 0.0, "reason": why, "interactions": []}



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
                          "url": redact_url(ctx.expand(runtime.url)) if runtime else None, **({"error": doc.error} if doc.error else {})})
    from interlock.contracts import openapi_schemathesis

    return {
        "validator": "openapi-core (request and response validation: status, headers, body)", "openapi_core": _version("openapi-core"),
        "document_check": f"openapi-spec-validator {_version('openapi-spec-validator')}: its OpenAPI 3.0 schema; for 3.1 the official {openapi_spec.CURRENT_31}",
        "documents": documents, "request_timeout": config.request_timeout, "fixtures": sorted(config.fixtures),
        "unused_fixtures": sorted(k for k in config.fixtures if k.split(":", 1)[0] not in {d["service"] for d in documents}),
        "requests": "built from the document's examples; a fixture for the interface id overrides them",
        "concurrency": max(1, len(documents)), "requests_per_service": 1,
        "schemathesis": openapi_schemathesis.settings(config.schemathesis),
    }


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def verify(ctx: RunContext) -> list[dict[str, Any]]:
    """Check every selected service's document, services concurrently; one record per document (and per Schemathesis run)."""
    from interlock.contracts import openapi_schemathesis
    from interlock.contracts.actions import perform

    config = ctx.config.contracts.openapi
    stores = ctx.stores()
    env, cwd = ctx.base_env(), str(ctx.loaded.root)

    def perform_setup(action: Any) -> None:
        perform(ctx.expand_all(action.model_dump(by_alias=True, exclude_none=True)), stores, env=env, cwd=cwd)

    fixtures = {key: list(values) for key, values in config.fixtures.items()}
    jobs = selected(ctx)

    def one(service: str, source: str | None) -> list[dict[str, Any]]:
        if source is None:
            return [_missing_record(service, service in ctx.config.services)]
        runtime = ctx.env.services.get(service)
        url = ctx.expand(runtime.url) if runtime else None
        doc = load(service, source, ctx.loaded.root)
        records = [verify_document(doc, url, fixtures, config.request_timeout, perform_setup)]
        if service in config.schemathesis:
            records.append(openapi_schemathesis.run(doc, url, config.request_timeout))
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
