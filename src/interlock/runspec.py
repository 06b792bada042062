"""One resolved run: the config, the environment with its placeholders filled, one redactor and the command's options.

The CLI builds a `RunSpec` once from what was typed and hands it to the engine;
the engine binds it to the folder the run writes and the ports it reserved
(`bind`), and every step reads its decisions from `ctx.spec`: no module global
carries a decision, and no step expands a placeholder itself. This module is
the one place that fills `{root}`, `{repository}` (the checkout under test,
`[project] repository`), `{python}`, `{workdir}`, `{artifacts}`,
`{port:SERVICE}` and `{url:SERVICE}`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from pydantic import BaseModel

from interlock import secrets
from interlock.config import Environment, Loaded
from interlock.shards import Shard

_PLACEHOLDERS = re.compile(r"\{(root|repository|python|workdir|artifacts)\}|\{(url|port):([^{}]+)\}")
_T = TypeVar("_T")


def workdir_of(loaded: Loaded, env_name: str) -> Path:
    """Scratch files of a run of `env_name` (`{workdir}`), beside the config, never in the evidence."""
    return loaded.root / ".interlock" / env_name


def fixed_ports(environment: Environment) -> dict[str, int]:
    """The services' ports the config fixes (`port = 1234`); `auto` ones are reserved per run by the supervisor."""
    return {name: runtime.port for name, runtime in environment.services.items() if isinstance(runtime.port, int)}


def _walk(value: _T, fill: Callable[[str], str]) -> _T:
    """`fill` through every string of nested models, lists and dicts; other values as they are."""
    if isinstance(value, str):
        return fill(value)  # type: ignore[return-value]
    if isinstance(value, BaseModel):
        return value.model_copy(update={name: _walk(getattr(value, name), fill) for name in type(value).model_fields})
    if isinstance(value, list):
        return [_walk(v, fill) for v in value]  # type: ignore[return-value]
    if isinstance(value, dict):
        return {k: _walk(v, fill) for k, v in value.items()}  # type: ignore[return-value]
    return value


@dataclass(frozen=True)
class RunSpec:
    """Everything decided before a step runs; immutable, passed explicitly (Engine(spec), ctx.spec)."""

    loaded: Loaded
    env_name: str
    environment: Environment  # every placeholder filled (an `auto` port only once the engine has bound the spec)
    redactor: secrets.Redactor = field(repr=False)
    artifacts: Path | None = None  # the folder `{artifacts}` names: the run's staging folder, or the published one
    ports: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))  # every service's port in this run
    only: tuple[str, ...] = ()  # `interlock contracts --only`: the items or contracts step 2.2 reruns
    approver: str | None = None  # `interlock signoff --approver`, over [signoff] approver
    key: Path | None = None  # `interlock signoff --key`, over [signoff] key
    pytest_args: tuple[str, ...] = ()  # what goes to pytest (targets, -k, --maxfail, the shard option)
    last_failed: bool = False  # the pytest targets are the previous run's failures (`interlock test --last-failed`)
    shard: Shard | None = None  # `interlock test --shard K/N`

    @property
    def raw(self) -> Environment:
        """The environment as written in the config (placeholders unfilled): what a baseline or a report shows as configured."""
        return self.loaded.environment(self.env_name)

    @property
    def workdir(self) -> Path:
        return workdir_of(self.loaded, self.env_name)

    def port(self, name: str) -> int | None:
        """Service `name`'s port in this run (None: it declares none, or an `auto` one not yet reserved)."""
        return self.ports.get(name)

    def _fill(self, text: str, urls: bool) -> str:
        fixed = {"root": str(self.loaded.root), "repository": str(self.loaded.repository), "python": sys.executable, "workdir": str(self.workdir),
                 "artifacts": str(self.artifacts) if self.artifacts is not None else None}

        def one(match: re.Match[str]) -> str:
            if match.group(1):
                return fixed[match.group(1)] or match.group(0)
            kind, name = match.group(2), match.group(3)
            runtime = self.raw.services.get(name)
            if runtime is None or (kind == "url" and not urls):
                return match.group(0)
            if kind == "port":
                port = self.port(name)
                return match.group(0) if port is None else str(port)
            return self._fill(runtime.url, urls=False).rstrip("/")

        return _PLACEHOLDERS.sub(one, text)

    def expand(self, text: str) -> str:
        """Fill the placeholders of a config string that is not part of the environment (a contract's trigger, a pact job).

        One pass over the text: a service's URL may use its `{port:...}`, and what a
        placeholder is filled with is never scanned again.
        """
        return self._fill(text, urls=True)

    def expand_all(self, value: _T) -> _T:
        """`expand` through every string of nested models, lists and dicts."""
        return _walk(value, self.expand)

    def bind(self, artifacts: Path, ports: Mapping[str, int]) -> RunSpec:
        """This spec for a run writing `artifacts` with these `auto` ports reserved: the environment filled again, its redactor with it."""
        return resolve(replace(self, artifacts=artifacts, ports=MappingProxyType({**fixed_ports(self.raw), **ports})))


def baseline_secrets(loaded: Loaded) -> list[str]:
    """Variables the environment baseline pins by hash; an unreadable baseline is step 1.2's to report."""
    from interlock import baseline  # here: only the commands that run steps read the baseline (it loads YAML and probes)

    try:
        return list(baseline.load(loaded).secrets)
    except Exception:  # noqa: BLE001 - any problem with the baseline is reported by step 1.2, not here
        return []


def resolve(spec: RunSpec) -> RunSpec:
    """`spec` with its environment filled from the raw config and the redactor built from that filled environment.

    The redactor's one input is the filled environment (with the process's own
    variables and the baseline's pinned names): every URL and variable a step can see is known to it.
    """
    environment = _walk(spec.raw, spec.expand)
    redactor = secrets.for_environment(spec.loaded, spec.env_name, environment, baseline_secrets(spec.loaded))
    return replace(spec, environment=environment, redactor=redactor)


def build(loaded: Loaded, env_name: str, *, artifacts: Path | None = None, only: tuple[str, ...] | list[str] = (), approver: str | None = None,
          key: Path | None = None, pytest_args: tuple[str, ...] | list[str] = (), last_failed: bool = False, shard: Shard | None = None) -> RunSpec:
    """The spec of one command: checks the environment exists (a ConfigError names the known ones), then fills it.

    `auto` ports stay `{port:NAME}` until the engine reserves them and binds the spec.
    """
    raw = loaded.environment(env_name)
    unresolved = RunSpec(loaded, env_name, raw, secrets.Redactor(), artifacts, MappingProxyType(fixed_ports(raw)), tuple(dict.fromkeys(only)),
                         approver, key, tuple(pytest_args), last_failed, shard)
    return resolve(unresolved)


def variables(spec: RunSpec, base: Mapping[str, str]) -> dict[str, str]:
    """The process environment for setup commands, services and the suite: `base` (the process's own), the environment's
    variables, each service's URL as INTERLOCK_SERVICE_<NAME>_URL, and which environment it is."""
    env: dict[str, Any] = {**base, **spec.environment.vars}
    for name, runtime in spec.environment.services.items():
        env[f"INTERLOCK_SERVICE_{name.upper().replace('-', '_')}_URL"] = runtime.url.rstrip("/")
    env["INTERLOCK_ENV"] = spec.env_name
    env["PACT_DO_NOT_TRACK"] = "true"
    return env
