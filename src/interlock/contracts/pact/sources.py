"""Which pacts a run verifies: local files, URL sources fetched once into the artifacts, and the selection `--only` names."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interlock.contracts.pact.records import source_record
from interlock.documents import FetchedPact, PactFile, fetch_pact, load_pact, pact_files, source_url
from interlock.errors import Problem, UsageError
from interlock.probes import redact_url
from interlock.context import RunContext

ID_PATTERN = re.compile(r"^(?:pact:)?(?P<consumer>.+?)->(?P<provider>[^:]+?)(?:: (?P<description>.+))?$")
#: The description part of an interaction id: the pact's description, the provider states it is given, its number among repeats.
DESCRIPTION_PART = re.compile(r"^(?P<description>.+?)(?: \[given (?P<states>.+)\])?(?: #(?P<nth>\d+))?$")


@dataclass
class Plan:
    """What one run verifies: the pacts (selected by `only`), where each came from, and the jobs."""

    pacts: list[PactFile]
    origins: dict[Path, str] = field(default_factory=dict)  # a fetched pact's URL, by its saved path
    fetched: list[FetchedPact] = field(default_factory=list)
    broken: list[dict[str, Any]] = field(default_factory=list)  # records of sources that could not be read
    jobs: list[dict[str, Any]] = field(default_factory=list)
    selection: dict[Path, frozenset[int]] | None = None  # the interactions kept per pact, by index; None: all
    only: tuple[str, ...] = ()
    unmatched: list[str] = field(default_factory=list)  # ids of `only` that name no pact or broker provider
    concurrency: int = 1
    per_provider: int = 1

    def refusal(self, unmatched: Collection[str], others: tuple[str, ...]) -> Problem | None:
        """`--only` ids no kind has that look like pact interaction ids (`consumer->provider: description`)."""
        pact_like = sorted(i for i in unmatched if "->" in i and not i.startswith(others))
        if not pact_like:
            return None
        return Problem("--only", f"no pact interaction has id {', '.join(map(repr, pact_like))}; ids look like "
                                 "'consumer->provider: description [given state]' (the contract results list them)")


def resolve_sources(ctx: RunContext) -> tuple[list[PactFile], dict[Path, str], list[FetchedPact], list[dict[str, Any]]]:
    """Load local pacts; fetch URL sources into the artifacts' logs/pacts/ (a fetch that fails is a not-executed record)."""
    pact = ctx.config.contracts.pact
    found = [load_pact(p).as_services(ctx.config.service_of) for p in pact_files(ctx.loaded.root, pact.sources)]
    origins: dict[Path, str] = {}
    fetched: list[FetchedPact] = []
    broken: list[dict[str, Any]] = []
    env = ctx.base_env()
    folder = ctx.artifacts.root / "logs" / "pacts"
    if folder.is_dir():
        for stale in folder.glob("*.json"):
            stale.unlink()  # fetched by an earlier run of this step: the evidence is what this run fetches
    for source in pact.sources:
        url = source_url(source)
        if url is None:
            continue
        url = ctx.spec.expand(url)
        token_env = getattr(source, "token_env", None)
        if token_env and not env.get(token_env):
            got = FetchedPact(redact_url(url), None, None, f"environment variable {token_env} (token_env of the source) is not set")
        else:
            got = fetch_pact(url, folder, env.get(token_env) if token_env else None)
        fetched.append(got)
        if got.error or got.path is None:
            broken.append(source_record(got.url, got.error or "not fetched"))
            continue
        try:
            item = load_pact(got.path).as_services(ctx.config.service_of)
        except UsageError as exc:
            problem = exc.problems[0] if getattr(exc, "problems", None) else exc
            broken.append(source_record(got.url, f"not a readable pact: {getattr(problem, 'message', problem)} at {getattr(problem, 'key', None) or '$'}"))
            continue
        found.append(item)
        origins[item.path] = got.url
    return found, origins, fetched, broken


def select_pacts(found: Sequence[PactFile], only: Sequence[str], broker_providers: Sequence[str] = ()) -> tuple[list[PactFile], dict[Path, frozenset[int]], list[str]]:
    """The pacts and interactions (by index) `only` names (interaction ids, or `pact:C->P` for a whole pact), and the ids naming none (pure).

    An id of a broker provider's interaction is left to the broker job: it is not unmatched here.
    """
    wanted: dict[Path, set[int]] = {}
    unmatched = []
    for ident in only:
        hit = False
        for item in found:
            if ident in (f"pact:{item.consumer}->{item.provider}", f"{item.consumer}->{item.provider}"):
                wanted.setdefault(item.path, set()).update(range(len(item.interactions)))
                hit = True
                continue
            for index, interaction_id in enumerate(item.interaction_ids()):
                if interaction_id == ident:
                    wanted.setdefault(item.path, set()).add(index)
                    hit = True
        if not hit:
            match = ID_PATTERN.match(ident)
            if not (match and match["provider"] in broker_providers):
                unmatched.append(ident)
    kept = [item for item in found if item.path in wanted]
    return kept, {path: frozenset(names) for path, names in wanted.items()}, unmatched
