"""What a step needs while it runs: the run's spec, its artifact folder, events, prompts and the services.

The context is built by the engine for one run (or one step command): it binds
the CLI's `RunSpec` to the folder the run writes and to the `auto` ports
reserved for it, so every step reads the same filled environment and the same
redactor from `ctx.spec`. The services themselves are the supervisor's
(`interlock.supervisor`); the engine tells it which step begins (`enter_step`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

from interlock import ports as ports_
from interlock import secrets
from interlock.artifacts import ArtifactDir
from interlock.config import Environment, Loaded
from interlock.events import Emit, PromptAnswered, PromptRequired
from interlock.otlp import suite_environment
from interlock.runspec import RunSpec, variables
from interlock.supervisor import Services, reserve_ports, utc_now

__all__ = ["RunContext", "tool_versions", "utc_now"]


def tool_versions(names: tuple[str, ...]) -> dict[str, str]:
    """Installed versions of the named distributions (absent ones left out): evidence says what produced it."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


@dataclass
class RunContext:
    """Everything a step reads; steps return data and emit events, never print.

    `spec` is bound on construction: the `auto` ports are reserved into `ports`
    (the run state's own dict, so a resumed run keeps them) and the environment
    is filled for `artifacts`.
    """

    spec: RunSpec
    artifacts: ArtifactDir
    emit: Emit
    confirm: Callable[[str], tuple[bool, str]]
    run_id: str
    started_at: str = field(default_factory=utc_now)
    published: Path | None = None
    ports: dict[str, int] = field(default_factory=dict)  # auto ports chosen for this run, kept in the run state
    reservations: ports_.Reservations = field(default_factory=lambda: ports_.Reservations(), repr=False)
    command: str = "interlock run"  # as typed, and who typed it: what the run ledger records for each step
    by: str = "interlock"
    services: Services = field(init=False)

    def __post_init__(self) -> None:
        self.spec = self.spec.bind(self.artifacts.root, reserve_ports(self.spec, self.ports, self.reservations))
        self.services = Services(self.spec, self.artifacts, self.emit, self.run_id)
        self.artifacts.redactor = self.spec.redactor  # every artifact a step writes is redacted as it is written

    def enter_step(self, step_id: str) -> None:
        """Step `step_id` begins: the supervisor reports the services that died in the step before, then names this one."""
        self.services.enter_step(step_id)

    @property
    def step(self) -> str | None:
        """The step in progress (names the step a service died in)."""
        return self.services.step

    @property
    def loaded(self) -> Loaded:
        return self.spec.loaded

    @property
    def env_name(self) -> str:
        return self.spec.env_name

    @property
    def env(self) -> Environment:
        """The run's environment, every placeholder filled."""
        return self.spec.environment

    @property
    def redactor(self) -> secrets.Redactor:
        """The run's one redactor (`RunSpec.redactor`)."""
        return self.spec.redactor

    @property
    def config(self) -> Any:
        return self.spec.loaded.config

    @property
    def workdir(self) -> Path:
        return self.spec.workdir

    def port(self, name: str) -> int | None:
        """Service `name`'s port in this run: its fixed `port`, or the `auto` one reserved for the run."""
        return self.spec.port(name)

    def stores(self) -> dict[str, dict[str, str]]:
        """The environment's stores as setup actions need them: kind and URL."""
        return {name: {"kind": store.kind, "url": store.url} for name, store in self.env.stores.items()}

    def base_env(self) -> dict[str, str]:
        """The process environment for setup commands, services and the suite."""
        return variables(self.spec, os.environ)

    def suite_env(self) -> dict[str, str]:
        """The pytest child's environment: `base_env`, and while the OTLP receiver runs its endpoint (the plugin's switch)."""
        endpoint = self.services.otlp_endpoint
        return {**self.base_env(), **(suite_environment(endpoint) if endpoint else {})}

    def ask(self, kind: str) -> bool:
        """Ask one of the protocol's yes/no prompts; the answer and how it was given are events too."""
        self.emit(PromptRequired(kind))
        answer, how = self.confirm(kind)
        self.emit(PromptAnswered(kind, answer, how))
        return answer
