"""Every document the config names, loaded once and checked, all problems reported together.

`interlock config check` uses it so that a broken pact, OpenAPI or AsyncAPI
document, or table spec, is found before anything runs, with the same loaders
(and the same messages) that the phases use.
"""

from __future__ import annotations

from pathlib import Path

from interlock.config import Loaded
from interlock.errors import Problem, UsageError


def document_problems(loaded: Loaded) -> list[Problem]:
    """Problems of every document the config refers to; empty when all load."""
    from interlock.contracts.asyncapi import load_asyncapi
    from interlock.contracts.openapi import load as load_openapi
    from interlock.contracts.pact.jobs import unhandled_states
    from interlock.contracts.schema import load_spec
    from interlock.documents import load_pact, pact_files
    from interlock.phases.scope import read_features

    config, root = loaded.config, loaded.root
    problems: list[Problem] = []

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
        try:
            sources = pact_files(root, config.contracts.pact.sources)
        except UsageError as exc:
            problems.extend(exc.problems)
            sources = []
        pacts = []
        for path in sources:
            try:
                pacts.append(load_pact(path))
            except UsageError as exc:
                problems.extend(exc.problems)
        problems.extend(unhandled_states(config, pacts))
    for entry in config.contracts.schema_:
        attempt(load_spec, Path(loaded.resolve(entry.path)))
    features = loaded.resolve(config.prerequisites.feature_list.path)
    if features.is_file():
        attempt(read_features, features)
    return problems
