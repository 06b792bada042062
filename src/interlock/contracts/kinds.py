"""The contract kinds: one `ContractKind` per kind, registered in one table, `KINDS`.

Step 2.2 (`phases.contracts`) and the scope matrix (`phases.scope`) reach a
kind only through this table, never by its module's name: a kind is declared
by the config (`declared`), prepares what a run needs once (`prepare`: None
when it runs whole and is cut to `--only` afterwards, else a `Selection`
that knows which ids it has), says what the config artifact records of it
(`settings`), verifies (`verify`) and marks the scope's interfaces its
verification exercises (`interfaces`). `register` refuses a kind that lacks
one of these parts, so a kind cannot be half-added and fail silently.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from interlock.config import Config
    from interlock.errors import Problem
    from interlock.context import RunContext

PARTS = ("name", "prefixes", "declared", "prepare", "settings", "verify", "interfaces")
"""What every contract kind provides; `register` checks each one."""


@runtime_checkable
class ContractKind(Protocol):
    """One kind of contract (pact, openapi, asyncapi, schema) as step 2.2 and the scope matrix use it."""

    name: str
    prefixes: tuple[str, ...]  # how the ids of this kind's records begin (`openapi:`): another kind's `--only` ids are known by them

    def declared(self, config: Config) -> bool:
        """Whether the config declares contracts of this kind."""
        ...

    def prepare(self, ctx: RunContext, only: Sequence[str]) -> Selection | None:
        """Work done once per run that settings and verify share; None when the kind runs whole and is cut to `only` after."""
        ...

    def settings(self, ctx: RunContext, prepared: Any) -> dict[str, Any] | None:
        """What contract-validation-config.json records of this kind."""
        ...

    def verify(self, ctx: RunContext, prepared: Any) -> list[dict[str, Any]]:
        """The contract records of this kind, verified against the running system."""
        ...

    def interfaces(self, ctx: RunContext, interfaces: dict[str, dict[str, Any]]) -> None:
        """Add to the scope matrix's interfaces (by id) the checks this kind's verification exercises in step 2.2."""
        ...


@runtime_checkable
class Selection(Protocol):
    """What `prepare` returns for a kind that knows before running which `--only` ids are its own (pact)."""

    unmatched: list[str]

    def refusal(self, unmatched: Collection[str], others: tuple[str, ...]) -> Problem | None:
        """The problem to refuse ids no kind has that look like this kind's (ids beginning with one of `others` are another kind's)."""
        ...


KINDS: dict[str, ContractKind] = {}
"""Every contract kind by name, in the order step 2.2 runs and reports them."""


def register(kind: object) -> ContractKind:
    """Add a kind to `KINDS`; a kind missing a part, or a second kind of one name, is refused (TypeError/ValueError)."""
    name = getattr(kind, "name", None)
    missing = [part for part in PARTS if not hasattr(kind, part) or (part not in ("name", "prefixes") and not callable(getattr(kind, part)))]
    if missing or not isinstance(kind, ContractKind):
        raise TypeError(f"contract kind {name or type(kind).__name__!r} lacks {', '.join(missing)}: a kind provides {', '.join(PARTS)}")
    if not isinstance(kind.name, str) or not kind.name or not isinstance(kind.prefixes, tuple):
        raise TypeError(f"contract kind {type(kind).__name__!r}: `name` must be a non-empty string and `prefixes` a tuple of strings")
    if kind.name in KINDS:
        raise ValueError(f"contract kind {kind.name!r} is registered twice")
    KINDS[kind.name] = kind
    return kind


def declared(config: Config) -> list[ContractKind]:
    """The kinds the config declares, in table order."""
    return [kind for kind in KINDS.values() if kind.declared(config)]


def _register_builtin() -> None:
    from interlock.contracts.asyncapi import KIND as ASYNCAPI
    from interlock.contracts.openapi import KIND as OPENAPI
    from interlock.contracts.pact import KIND as PACT
    from interlock.contracts.schema import KIND as SCHEMA

    for kind in (PACT, OPENAPI, ASYNCAPI, SCHEMA):
        register(kind)


_register_builtin()
