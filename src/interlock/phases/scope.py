"""Step 1.1: reconcile the integration scope from the prerequisites, the contracts and the suite.

Interfaces come from the documents the system already has (every OpenAPI
operation, every AsyncAPI channel, every pact interaction); the checks that
exercise each one come from the pacts and from the tests' `interface` markers,
so an interface nothing exercises is listed as uncovered, not assumed tested.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from interlock.artifacts import SCOPE_MATRIX, TRACE_EVIDENCE
from interlock.config import Prerequisite
from interlock.contracts.asyncapi import load_asyncapi
from interlock.contracts.kinds import declared as declared_kinds
from interlock.contracts.openapi import load as load_openapi
from interlock.contracts.openapi.plan import operations
from interlock.documents import (  # HTTP_REF, match_template, template_matches: re-exported, the matcher of interface ids
    HTTP_REF as HTTP_REF,
    PactFile,
    load_document,
    load_pact,
    match_template as match_template,
    pact_files,
    template_matches as template_matches,
    undeclared_pacts,
)
from interlock.errors import Problem, UsageError
from interlock.events import Notice, ProtocolError
from interlock.files import sha256_file
from interlock.statuses import StepStatus, TrafficStatus
from interlock.protocol import HaltRun, Outcome
from interlock.context import RunContext, utc_now


def tree_sha256(path: Path) -> str:
    """A folder's digest: SHA-256 over its sorted `relpath  sha256` lines."""
    lines = [f"{p.relative_to(path).as_posix()}  {sha256_file(p)}\n" for p in sorted(path.rglob("*")) if p.is_file()]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def read_version(path: Path, key: str) -> str | None:
    """The version a prerequisite declares: a key in JSON/YAML/TOML, `Version:` in Markdown, KEY= in .env, a VERSION file in a folder."""
    if path.is_dir():
        marker = path / "VERSION"
        return marker.read_text("utf-8").strip() if marker.is_file() else None
    suffix = path.suffix.lower()
    if suffix in (".json", ".yaml", ".yml", ".toml"):
        data = load_document(path)
        value = data.get(key) if isinstance(data, dict) else None
        return None if value is None else str(value)
    text = path.read_text("utf-8", errors="replace")
    pattern = rf"^\s*{re.escape(key)}\s*=\s*\"?([^\"\s]+)" if suffix == ".env" or path.name.startswith(".env") else rf"^\W*{re.escape(key)}\W*:\s*\**\s*([^\s*]+)"
    match = re.search(pattern, text, re.IGNORECASE | re.MULTILINE)
    return match.group(1) if match else None


def check_prerequisite(name: str, spec: Prerequisite, root: Path) -> dict[str, Any]:
    """Does the prerequisite exist at its declared version and hash?"""
    path = (root / spec.path).resolve()
    record: dict[str, Any] = {
        "name": name, "path": spec.path, "expected_version": spec.version, "actual_version": None,
        "expected_sha256": spec.sha256, "actual_sha256": None, "status": "ok", "reason": None,
    }
    if not path.exists():
        record.update(status="missing", reason=f"{spec.path} does not exist")
        return record
    try:
        record["actual_version"] = read_version(path, spec.version_key)
    except UsageError as exc:
        record.update(status="mismatch", reason=str(exc))
        return record
    record["actual_sha256"] = tree_sha256(path) if path.is_dir() else sha256_file(path)
    problems = []
    if spec.version is not None and record["actual_version"] != spec.version:
        problems.append(f"version {record['actual_version'] or '(none found)'} where {spec.version} is expected")
    if spec.sha256 is not None and record["actual_sha256"] != spec.sha256:
        problems.append(f"sha256 {record['actual_sha256'][:12]}… where {spec.sha256[:12]}… is expected")
    if problems:
        record.update(status="mismatch", reason="; ".join(problems))
    return record


CREATE_TABLE = re.compile(r"\bCREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?[`\"\[]?([A-Za-z_][\w.]*)", re.IGNORECASE)


def migration_tables(folder: Path) -> list[str]:
    """Tables the SQL migrations create: the shared storage other services may rely on."""
    if not folder.is_dir():
        return []
    found = {m.group(1) for path in sorted(folder.glob("*.sql")) for m in CREATE_TABLE.finditer(path.read_text("utf-8", errors="replace"))}
    return sorted(found - {"schema_migrations"})


CHECKLIST = re.compile(r"^\s*[-*]\s+\[(?P<done>[ xX])\]\s+(?P<text>.+)$")
FEATURE_ID = re.compile(r"\b[A-Z][A-Z0-9]*-\d+\b")


def markdown_features(text: str) -> list[dict[str, Any]]:
    """Completed items of a Markdown checklist: `- [x] F-1 Title `service:GET /path``; open items are not delivered yet."""
    features: list[dict[str, Any]] = []
    for line in text.splitlines():
        match = CHECKLIST.match(line)
        if not match or match.group("done") == " ":
            continue
        body = match.group("text")
        interfaces = [ref for ref in re.findall(r"`([^`]+)`", body) if ":" in ref]
        title = re.sub(r"`[^`]*`", "", body)
        found = FEATURE_ID.search(title)
        feature_id = found.group(0) if found else f"line-{len(features) + 1}"
        title = title.replace(feature_id, "", 1).strip(" -—:*(),;\t")
        features.append({"id": feature_id, "title": title, "interfaces": interfaces})
    return features


def _interface(interfaces: dict[str, dict[str, Any]], service: str, kind: str, operation: str, source: str) -> dict[str, Any]:
    key = f"{service}:{operation}"
    return interfaces.setdefault(key, {"id": key, "service": service, "kind": kind, "operation": operation, "source": source, "features": [], "checks": [],
                                          "traffic": {"status": TrafficStatus.PENDING, "by": []}})


def mark_traffic(matrix: dict[str, Any], evidence: Mapping[str, Any] | None) -> None:
    """Mark each interface of the matrix with the traffic trace-evidence.json recorded across it, in place.

    The one place the matrix's `traffic` is decided: step 1.1 with the evidence a previous 3.1 left (so
    `interlock scope` rerun alone keeps the marks), step 3.1 with the evidence it has just written. No
    evidence, or none for an interface, is `pending`; an interface no span crossed is `not_observed` only when a
    receiver ran (its counters are in the evidence), else `unknown`.
    """
    recorded = {str(i["id"]): i for i in evidence["interfaces"]} if evidence is not None else {}
    for interface in matrix["interfaces"]:
        found = recorded.get(interface["id"])
        by: list[str] = []
        if found is None:
            status = TrafficStatus.PENDING
        elif found["observed"]:  # spans crossed it: proof enough, whatever the receiver's counters say
            status, by = TrafficStatus.OBSERVED, list(found["by"])
        elif evidence is not None and evidence["receiver"] is None:  # no receiver listened: its silence proves nothing
            status = TrafficStatus.UNKNOWN
        else:
            status = TrafficStatus.NOT_OBSERVED
        interface["traffic"] = {"status": status, "by": by}


def build_matrix(ctx: RunContext, tests: list[dict[str, Any]], pacts: list[PactFile]) -> dict[str, Any]:
    """The scope matrix from the config, the documents, the pacts and the collected tests."""
    config, root = ctx.config, ctx.loaded.root
    interfaces: dict[str, dict[str, Any]] = {}
    features = _read_feature_list(ctx)
    feature_refs = [ref for feature in features for ref in feature["interfaces"]]
    unmatched: set[str] = set()
    for name, service in config.services.items():
        if service.openapi:
            document = load_openapi(name, service.openapi, root)
            if document.problem is not None:
                raise UsageError(document.problem)
            for operation in operations(document.app.spec, name):  # resolved as step 2.2 sees them (a Path Item may be a $ref)
                _interface(interfaces, name, "http", f"{operation.method} {operation.template}", service.openapi)
        if service.asyncapi:
            for channel in load_asyncapi(root / service.asyncapi).channels:  # by id; the address beside it (3.x addresses may repeat)
                entry = _interface(interfaces, name, "message", f"publish {channel.id}", service.asyncapi)
                if channel.address != channel.id:
                    entry["address"] = channel.address
    for store_name, store in ctx.spec.raw.stores.items():  # the migrations path as configured: the matrix's source column
        if store.migrations:
            folder = ctx.loaded.resolve(store.migrations)
            for table in migration_tables(folder):
                _interface(interfaces, store_name, "table", f"table {table}", store.migrations)
    for dataset_name, dataset in config.datasets.items():
        key = f"{dataset.store}:table {dataset.table}"
        if key in interfaces:
            interfaces[key]["checks"].append({"kind": "dataset", "ref": f"dataset {dataset_name} row count (step 1.2)"})
    messages = config.contracts.pact.messages if config.contracts.pact else {}
    dependencies: dict[tuple[str, str], set[str]] = {}
    pact_edges: set[tuple[str, str]] = set()
    for pact in pacts:
        source = pact.path.relative_to(root).as_posix() if pact.path.is_relative_to(root) else str(pact.path)
        for index, item in enumerate(pact.interactions):
            if pact.kind == "message":
                topic = messages[item.description].topic if item.description in messages else item.description
                on_topic = [i for i in interfaces.values() if i["service"] == pact.provider and i["kind"] == "message" and i.get("address") == topic]
                entry = on_topic[0] if len(on_topic) == 1 else _interface(interfaces, pact.provider, "message", f"publish {topic}", source)
            else:
                method, path = item.method or "GET", item.path or "/"
                known = [i for i in interfaces.values() if i["service"] == pact.provider and i["kind"] == "http" and i["operation"].split(" ", 1)[0] == method and template_matches(i["operation"].split(" ", 1)[1], path)]
                template = match_template(feature_refs, pact.provider, method, path) or match_template(config.scope.out_of_scope, pact.provider, method, path)
                if template is None:
                    unmatched.add(f"{pact.provider}:{method} {path}")
                entry = known[0] if known else _interface(interfaces, pact.provider, "http", f"{method} {template or path}", source)
            entry["checks"].append({"kind": "pact", "ref": pact.interaction_id(index)})
            dependencies.setdefault((pact.consumer, pact.provider), set()).add(entry["id"])
            pact_edges.add((pact.consumer, pact.provider))
    _probe_checks(ctx, interfaces)
    _contract_checks(ctx, interfaces)
    for test in tests:
        for ref in test.get("interfaces", []):
            if ref in interfaces:
                interfaces[ref]["checks"].append({"kind": "test", "ref": test["nodeid"]})
    for name, service in config.services.items():
        for target in service.depends_on:
            dependencies.setdefault((name, target), set())
    _link_features(features, interfaces)
    ordered = [interfaces[k] for k in sorted(interfaces)]
    return {
        "schema_version": 1, "generated_at": utc_now(),
        "project": {"name": config.project.name, "version": config.project.version},
        "environment": ctx.env_name, "prerequisites": [],
        "services": [{"name": n, "kind": s.kind, "owner": s.owner or config.owners.get(n), "openapi": s.openapi, "asyncapi": s.asyncapi} for n, s in config.services.items()],
        "interfaces": ordered,
        "dependencies": [
            {"consumer": c, "provider": p, "via": "pact" if (c, p) in pact_edges else "config", "interfaces": sorted(ids)}
            for (c, p), ids in sorted(dependencies.items())
        ],
        "features": features,
        "uncovered": [i["id"] for i in ordered if not i["checks"]],
        "unmatched_pact_interfaces": sorted(unmatched),
    }


def _probe_checks(ctx: RunContext, interfaces: dict[str, dict[str, Any]]) -> None:
    """Endpoints interlock itself exercises: each service's health check (1.2) and metrics scrape (2.3)."""
    for name, runtime in ctx.env.services.items():
        probes = [("environment", (runtime.health or runtime.url), f"{name} health probe (step 1.2)"),
                  ("observability", runtime.url.rstrip("/") + "/metrics", f"{name} metrics scrape (step 2.3)")]
        for kind, url, ref in probes:
            path = "/" + url.split("://", 1)[-1].partition("/")[2]
            for interface in interfaces.values():
                method, _, template = interface["operation"].partition(" ")
                if interface["service"] == name and method == "GET" and template_matches(template, path):
                    interface["checks"].append({"kind": kind, "ref": ref})


def _contract_checks(ctx: RunContext, interfaces: dict[str, dict[str, Any]]) -> None:
    """Interfaces the declared contracts will exercise in step 2.2, as each kind of the kinds' table marks them."""
    for kind in declared_kinds(ctx.config):
        kind.interfaces(ctx, interfaces)


def read_features(path: Path) -> list[dict[str, Any]]:
    """The feature list (protocol 3's): JSON/YAML `features: [{id, title, interfaces}]`, or Markdown; bad shapes are input errors."""
    if path.suffix.lower() in (".md", ".markdown"):
        return markdown_features(path.read_text("utf-8", errors="replace"))
    data = load_document(path)
    items = (data.get("features") if isinstance(data, dict) else data) or []
    if not isinstance(items, list):
        raise UsageError(Problem(str(path), "`features` is not a list; make it a list of {id, title, interfaces} entries", key="features"))
    features = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or "id" not in item:
            continue
        refs = item.get("interfaces") or []
        if not isinstance(refs, list):
            raise UsageError(Problem(str(path), "`interfaces` is not a list of interface ids", key=f"features[{index}].interfaces"))
        features.append({"id": str(item["id"]), "title": str(item.get("title", "")), "interfaces": [str(r) for r in refs]})
    return features


def _read_feature_list(ctx: RunContext) -> list[dict[str, Any]]:
    """The feature list's features; none when the file is missing (step 1.1 halts on the missing prerequisite)."""
    path = ctx.loaded.resolve(ctx.config.prerequisites.feature_list.path)
    return read_features(path) if path.is_file() else []


def _link_features(features: list[dict[str, Any]], interfaces: dict[str, dict[str, Any]]) -> None:
    for feature in features:
        for ref in feature["interfaces"]:
            if ref in interfaces:
                interfaces[ref]["features"].append(feature["id"])


def run(ctx: RunContext) -> Outcome:
    """Write the scope matrix; halt (MissingArtifacts) when a prerequisite is missing or version-mismatched."""
    from interlock.execution import collect_tests

    prerequisites = [check_prerequisite(n, getattr(ctx.config.prerequisites, n), ctx.loaded.root) for n in ("feature_list", "architecture_contracts", "environment_baseline")]
    pact = ctx.config.contracts.pact
    declared = pact_files(ctx.loaded.root, pact.sources) if pact else []
    pacts = [load_pact(p).as_services(ctx.config.service_of) for p in declared]  # named as the config's services (`pact_names`)
    try:
        tests = collect_tests(ctx)
    except UsageError as exc:
        ctx.emit(Notice("1.1", f"could not collect the suite's tests: {exc}"))
        tests = []
    matrix = build_matrix(ctx, tests, pacts)
    matrix["prerequisites"] = prerequisites
    architecture = ctx.loaded.resolve(ctx.config.prerequisites.architecture_contracts.path)
    matrix["undeclared_pacts"] = undeclared_pacts(ctx.loaded.root, architecture, declared, ctx.config.contracts.pact_exclude)
    evidence = ctx.artifacts.read_json_or_none(TRACE_EVIDENCE)  # a fresh run's folder has none: every mark is pending
    mark_traffic(matrix, evidence if evidence is not None and evidence["environment"] == ctx.env_name else None)
    ctx.artifacts.write_json(SCOPE_MATRIX, matrix)
    unmet = [p for p in prerequisites if p["status"] != "ok"]
    if unmet:
        details = [f"{p['name']} ({p['path']}): {p['reason']}" for p in unmet]
        ctx.emit(ProtocolError("MissingArtifacts", details))
        raise HaltRun("1.1", "prerequisite artifacts unavailable: " + "; ".join(details))
    if not matrix["interfaces"]:
        return Outcome(StepStatus.FAIL, "the scope matrix has no interfaces: declare OpenAPI/AsyncAPI documents or pact sources")
    if matrix["undeclared_pacts"]:
        return Outcome(StepStatus.FAIL, f"pact files in the architecture contracts that no [contracts.pact] source declares: "
                       f"{', '.join(matrix['undeclared_pacts'][:20])}; add them to sources or to [contracts.pact] exclude")
    if matrix["unmatched_pact_interfaces"]:
        unmatched = matrix["unmatched_pact_interfaces"]
        return Outcome(StepStatus.FAIL, f"{len(unmatched)} pact interfaces match no feature of {ctx.config.prerequisites.feature_list.path}: "
                       f"{', '.join(unmatched[:20])}; add their `service:METHOD /template` to a feature's interfaces, or to [scope] out_of_scope")
    uncovered = len(matrix["uncovered"])
    return Outcome(StepStatus.PASS, f"{len(matrix['interfaces'])} interfaces, {len(matrix['dependencies'])} dependencies, {uncovered} uncovered")
