"""Every document the config names, loaded once and checked, all problems reported together.

`interlock config check` uses it so that a broken pact, OpenAPI or AsyncAPI
document, or table spec, is found before anything runs, with the same loaders
(and the same messages) that the phases use.
"""

from __future__ import annotations

import ast
import difflib
import json
from pathlib import Path

from interlock.config import Config, Loaded, locator
from interlock.documents import PactFile, source_url
from interlock.errors import Problem, UsageError


def _shown(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def static_problems(loaded: Loaded) -> list[Problem]:
    """What `run` would refuse about the files the config names, found without running anything: every
    prerequisite that is missing, every local pact source that does not exist, each at its line."""
    from interlock.phases.scope import check_prerequisite

    config, at = loaded.config, locator(loaded)
    problems: list[Problem] = []
    for name in type(config.prerequisites).model_fields:
        record = check_prerequisite(name, getattr(config.prerequisites, name), loaded.root)
        if record["status"] == "missing":
            problems.append(at(("prerequisites", name, "path"), f"{record['path']} does not exist; create it (`interlock init` "
                               "writes a starting one) or fix the path"))
    pact = config.contracts.pact
    for index, source in enumerate(pact.sources if pact else []):
        if source_url(source) is None and not loaded.resolve(str(source)).exists():
            problems.append(at(("contracts", "pact", "sources", index), f"pact source {source!r} does not exist; fix the path or remove it"))
    return problems


def document_problems(loaded: Loaded) -> list[Problem]:
    """Problems of every document the config refers to; empty when all load."""
    from interlock.contracts.asyncapi import load_asyncapi
    from interlock.contracts.openapi import load as load_openapi
    from interlock.contracts.pact.jobs import unhandled_states
    from interlock.contracts.schema import load_spec
    from interlock.documents import load_pact, pact_files
    from interlock.phases.scope import read_features

    config, root = loaded.config, loaded.root
    problems: list[Problem] = static_problems(loaded)
    pacts: list[PactFile] = []

    def attempt(load, *args: object) -> None:  # type: ignore[no-untyped-def]
        try:
            load(*args)
        except UsageError as exc:
            problems.extend(exc.problems)

    for name, service in config.services.items():
        if service.openapi:
            document = load_openapi(name, service.openapi, root)
            if document.problem is not None:
                problems.append(document.problem)
        if service.asyncapi:
            attempt(load_asyncapi, root / service.asyncapi)
    if config.contracts.pact:
        at = locator(loaded)
        present = [s for s in config.contracts.pact.sources if source_url(s) is not None or loaded.resolve(str(s)).exists()]
        for path in pact_files(root, present):
            try:
                pact = load_pact(path)
            except UsageError as exc:
                problems.extend(exc.problems)
                continue
            if config.service_of(pact.provider) is None:
                problems.append(at(("contracts", "pact", "sources"), f"{_shown(path, root)} names provider {pact.provider!r}, which matches no "
                                   f"service of [services] by name or `pact_names`; {_alias_hint(config, pact.provider)}"))
            pacts.append(pact.as_services(config.service_of))
        problems.extend(unhandled_states(config, pacts))
    for entry in config.contracts.schema_:
        attempt(load_spec, Path(loaded.resolve(entry.path)))
    features = loaded.resolve(config.prerequisites.feature_list.path)
    if features.is_file():
        attempt(read_features, features)
    baseline_path = loaded.resolve(config.prerequisites.environment_baseline.path)
    if baseline_path.is_file():
        from interlock import baseline

        try:
            problems.extend(baseline.runtime_problems(loaded, baseline.load(loaded)))
        except UsageError as exc:
            problems.extend(exc.problems)
    if not problems:  # interface ids are cross-referenced once every document they come from loads
        problems.extend(interface_problems(loaded, pacts if config.contracts.pact else []))
    return problems


def consumer_notes(loaded: Loaded) -> list[str]:
    """Pact consumers that match no service but are close to one's name: allowed, but named with a did-you-mean.

    A consumer outside the system (a browser app, a partner) needs no service, so one close to none is not named.
    """
    from interlock.documents import load_pact, pact_files

    config, root = loaded.config, loaded.root
    pact = config.contracts.pact
    present = [s for s in (pact.sources if pact else []) if source_url(s) is None and loaded.resolve(str(s)).exists()]
    notes = []
    for path in pact_files(root, present):
        try:
            consumer = load_pact(path).consumer
        except UsageError:
            continue  # reported as a problem
        close = _close(config, consumer) if config.service_of(consumer) is None else None
        if close:
            notes.append(f"{_shown(path, root)}: consumer {consumer!r} matches no service by name or `pact_names`; did you mean "
                         f"service {close!r}? if so, add pact_names = [{json.dumps(consumer)}] to [services.{close}]")
    return notes


def _close(config: Config, name: str) -> str | None:
    """The service whose name or pact names are closest to `name` (case aside), if any is close."""
    names = {n.lower(): service for service, s in config.services.items() for n in (service, *s.pact_names)}
    found = difflib.get_close_matches(name.lower(), list(names), n=1, cutoff=0.6)
    return names[found[0]] if found else None


def _alias_hint(config: Config, name: str) -> str:
    close = _close(config, name)
    if close:
        return f"did you mean service {close!r}? add pact_names = [{json.dumps(name)}] to [services.{close}]"
    return f"declare the service, add {json.dumps(name)} to a service's `pact_names`, or fix the pact's name"


def interface_problems(loaded: Loaded, pacts: list[PactFile]) -> list[Problem]:
    """Every interface id the feature list and the suite's `interface` markers use that no interface matches, with a did-you-mean.

    The interfaces are those step 1.1's scope matrix builds: OpenAPI operations, AsyncAPI channels, tables the
    migrations create, and pact interactions (a concrete pact path matches a feature's `{param}` template).
    """
    from interlock.phases.scope import read_features

    config = loaded.config
    features_path = loaded.resolve(config.prerequisites.feature_list.path)
    used: list[tuple[str, str, str]] = []  # (where, key, interface id)
    if features_path.is_file():
        for feature in read_features(features_path):
            used += [(str(features_path), f"features[{feature['id']}].interfaces", ref) for ref in feature["interfaces"]]
    used += marker_interfaces(loaded.resolve(config.suite.path), loaded.root)
    if not used:
        return []
    exact, requests = interface_catalogue(loaded, pacts)
    problems = []
    for where, key, ref in used:
        if ref in exact or _matches_pact(ref, requests):
            continue
        close = difflib.get_close_matches(ref, sorted(exact | {f"{s}:{m} {p}" for s, m, p in requests}), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else "ids look like 'service:METHOD /path/{param}', 'service:publish channel' or 'store:table name'"
        file, _, line = where.rpartition(":") if where.endswith(tuple("0123456789")) else (where, "", "")
        problems.append(Problem(file, f"interface {ref!r} matches no interface of the system; {hint}", int(line) if line else None, key))
    return problems


def _matches_pact(ref: str, requests: set[tuple[str, str, str]]) -> bool:
    from interlock.documents import HTTP_REF, template_matches

    match = HTTP_REF.match(ref)
    return match is not None and any(match["service"] in (None, s) and match["method"] == m and template_matches(match["template"], p) for s, m, p in requests)


def interface_catalogue(loaded: Loaded, pacts: list[PactFile]) -> tuple[set[str], set[tuple[str, str, str]]]:
    """The interface ids the system's documents define, and the (service, method, path) requests its HTTP pacts make."""
    from interlock.contracts.asyncapi import load_asyncapi
    from interlock.contracts.openapi import load as load_openapi
    from interlock.contracts.openapi.plan import operations
    from interlock.phases.scope import migration_tables

    config, root = loaded.config, loaded.root
    exact: set[str] = set()
    for name, service in config.services.items():
        if service.openapi:
            document = load_openapi(name, service.openapi, root)
            if document.problem is None:
                exact |= {f"{name}:{o.method} {o.template}" for o in operations(document.app.spec, name)}
        if service.asyncapi:
            for channel in load_asyncapi(root / service.asyncapi).channels:
                exact |= {f"{name}:publish {channel.id}", f"{name}:publish {channel.address}"}
    for env in config.environments.values():
        for store_name, store in env.stores.items():
            if store.migrations:
                exact |= {f"{store_name}:table {t}" for t in migration_tables(loaded.resolve(store.migrations))}
    messages = config.contracts.pact.messages if config.contracts.pact else {}
    requests: set[tuple[str, str, str]] = set()
    for pact in pacts:
        for item in pact.interactions:
            if pact.kind == "message":
                exact.add(f"{pact.provider}:publish {messages[item.description].topic if item.description in messages else item.description}")
            else:
                requests.add((pact.provider, item.method or "GET", item.path or "/"))
    return exact, requests


def marker_interfaces(folder: Path, root: Path | None = None) -> list[tuple[str, str, str]]:
    """The interface ids of the suite's `@pytest.mark.interface(...)` markers, read statically (file:line, key, id)."""
    found: list[tuple[str, str, str]] = []
    files = sorted(folder.rglob("*.py")) if folder.is_dir() else [folder] if folder.suffix == ".py" else []
    for path in files:
        try:
            tree = ast.parse(path.read_text("utf-8"), str(path))
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            continue  # pytest reports a file it cannot import when it collects
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "interface" and isinstance(func.value, ast.Attribute) and func.value.attr == "mark":
                found += [(f"{_shown(path, root) if root else path}:{arg.lineno}", "mark.interface", arg.value) for arg in node.args
                          if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
    return found
