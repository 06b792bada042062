"""A service's OpenAPI document, loaded and checked once for validation (its servers reduced to their base path)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from interlock.contracts.openapi.spec import problem as document_problem
from interlock.documents import load_document
from interlock.errors import Problem, UsageError
from interlock.files import sha256_file


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
        doc.sha256 = sha256_file(path)
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
    doc.problem = document_problem(raw, str(path), path.as_uri())
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
    try:  # checked above against the specification (spec.py): openapi-core's own, older check is not repeated
        doc.app = OpenAPI.from_dict(data, base_uri=path.as_uri(), config=Config(spec_validator_cls=None))  # type: ignore[arg-type]  # None skips the check: openapi-core's documented switch, missing from its annotation
    except Exception as exc:  # noqa: BLE001 - whatever openapi-core cannot build on is a document problem, never a crash
        doc.problem = Problem(str(path), f"openapi-core cannot use this OpenAPI {doc.version} document: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; fix the document")
        doc.raw = None
    return doc
