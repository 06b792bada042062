"""Every document the config names, loaded once and checked, all problems reported together.

`interlock config check` uses it so that a broken pact, OpenAPI or AsyncAPI
document, or table spec, is found before anything runs, with the same loaders
(and the same messages) that the phases use.
"""

from __future__ import annotations

from pathlib import Path

from interlock.config import Loaded, locator
from interlock.documents import source_url
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
        pacts = []
        for path in pact_files(root, present):
            try:
                pact = load_pact(path)
            except UsageError as exc:
                problems.extend(exc.problems)
                continue
            pacts.append(pact)
            if pact.provider not in config.services:
                problems.append(at(("contracts", "pact", "sources"), f"{_shown(path, root)} names provider {pact.provider!r}, which is not "
                                   "a service of [services]; declare it, or fix the pact's provider name"))
        problems.extend(unhandled_states(config, pacts))
    for entry in config.contracts.schema_:
        attempt(load_spec, Path(loaded.resolve(entry.path)))
    features = loaded.resolve(config.prerequisites.feature_list.path)
    if features.is_file():
        attempt(read_features, features)
    return problems
