"""Typed models of `interlock.toml`, loaded with the file line of every key.

Every problem is reported at once (`interlock config check`), each with file,
line and key, so a user fixes a config in one pass instead of one error per run.
"""

from __future__ import annotations

import difflib
import re
import sys
import tomllib
from pathlib import Path
from collections.abc import Callable
from typing import Any, Literal

from pydantic.json_schema import SkipJsonSchema
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from interlock.brokers import KINDS as BROKER_KINDS
from interlock.errors import ConfigError, Problem
from interlock.policy import Gates, Model, Waiver

CONFIG_NAME = "interlock.toml"
#: `{url:NAME}` and `{port:NAME}`: a service's URL and port in this environment (interlock.runspec fills them).
PLACEHOLDER = re.compile(r"\{(url|port):([^{}]+)\}")


class Project(Model):
    name: str
    version: str | None = None


class Prerequisite(Model):
    """An input from another protocol, pinned by version and/or SHA-256."""

    path: str
    version: str | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    version_key: str = "version"

    @model_validator(mode="after")
    def _pinned(self) -> Prerequisite:
        if self.version is None and self.sha256 is None:
            raise ValueError("pin it with `version` or `sha256` (or both)")
        return self


class Prerequisites(Model):
    feature_list: Prerequisite
    architecture_contracts: Prerequisite
    environment_baseline: Prerequisite


class Service(Model):
    """What a service is, whatever the environment."""

    description: str = ""
    owner: str | None = None
    kind: Literal["http", "worker"] = "http"
    depends_on: list[str] = Field(default=[], description="services, stores or brokers this service calls")
    openapi: str | None = None
    asyncapi: str | None = None


class HttpCall(Model):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str
    json_body: Any = Field(default=None, alias="json")
    expect_status: list[int] = [200, 201, 202, 204]


class Action(Model):
    """A setup or teardown step: SQL on a store, an HTTP call, or a command."""

    sql: str | None = None
    store: str | None = None
    http: HttpCall | None = None
    command: list[str] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Action:
        kinds = [k for k in ("sql", "http", "command") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("give exactly one of `sql`, `http`, `command`")
        if self.sql is not None and self.store is None:
            raise ValueError("`sql` needs `store` naming one of the environment's stores")
        return self


class ServiceRuntime(Model):
    """How a service runs in one environment; no `command` means someone else runs it."""

    command: list[str] | None = None
    cwd: str = "."
    env: dict[str, str] = {}
    port: int | Literal["auto"] | None = Field(default=None, description=(
        'the TCP port the service listens on: a number, or "auto" for a free one interlock picks for each run; '
        "`{port:NAME}` stands for it in the config (the service's url, health, env and command)"))
    url: str
    health: str | None = None
    start_timeout: float = Field(default=30.0, gt=0)
    stop_timeout: float = Field(default=10.0, gt=0)


class Store(Model):
    kind: Literal["sqlite", "postgresql", "mysql"]
    url: str
    migrations: str | None = None
    migrations_table: str = "schema_migrations"


class Broker(Model):
    kind: str = Field(description=f"the broker's kind, one of `interlock.brokers.KINDS`: {', '.join(BROKER_KINDS)}")
    url: str
    exchange: str | None = None

    @field_validator("kind")
    @classmethod
    def _registered(cls, kind: str) -> str:
        """Only a registered kind: an unknown one must never fall through to another kind's probe."""
        if kind not in BROKER_KINDS:
            close = difflib.get_close_matches(kind, BROKER_KINDS, n=1)
            hint = f"did you mean `{close[0]}`?" if close else f"known kinds: {', '.join(BROKER_KINDS)}"
            raise ValueError(f"unknown broker kind {kind!r}; {hint}")
        return kind


class Environment(Model):
    description: str = ""
    vars: dict[str, str] = {}
    setup: list[list[str]] = []
    services: dict[str, ServiceRuntime]
    stores: dict[str, Store] = {}
    brokers: dict[str, Broker] = {}
    probe_timeout: float = Field(default=5.0, gt=0)
    secrets: list[str] = Field(default=[], description=(
        "names of variables (in `vars`, a service's `env` or the process environment) whose values are secret: "
        "masked as *** in every artifact, log and console line, and sealing is refused if one is still in the bundle"))


class ProviderState(Model):
    setup: Action | None = None
    teardown: Action | None = None


class MessageSource(Model):
    """How the provider really produces a message: trigger it, capture it from the broker."""

    trigger: Action
    broker: str
    topic: str
    timeout: float = Field(default=10.0, gt=0)


class PactUrlSource(Model):
    """A pact file fetched over HTTP(S), with an optional bearer token read from an environment variable."""

    url: str = Field(pattern=r"^https?://", description="http(s) URL of one pact file")
    token_env: str | None = Field(default=None, description="environment variable holding a bearer token for the URL")


class ConsumerVersionSelector(Model):
    """One Pact Broker consumer version selector (keyword arguments of pact-python's `consumer_version`)."""

    consumer: str | None = None
    tag: str | None = None
    fallback_tag: str | None = None
    latest: bool | None = None
    deployed_or_released: Literal[True] | None = None
    deployed: Literal[True] | None = None
    released: Literal[True] | None = None
    environment: str | None = None
    main_branch: Literal[True] | None = None
    branch: str | None = None
    matching_branch: Literal[True] | None = None
    fallback_branch: str | None = None


class PactBroker(Model):
    """Pacts for verification from a Pact Broker, with selectors, pending and work-in-progress pacts."""

    url: str = Field(pattern=r"^https?://")
    token_env: str | None = Field(default=None, description="environment variable holding the broker's bearer token")
    providers: list[str] = Field(min_length=1, description="services whose pacts the broker is asked for")
    consumer_version_selectors: list[ConsumerVersionSelector] = []
    include_pending: bool = False
    include_wip_since: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="a date, YYYY-MM-DD")
    provider_version: str | None = None
    provider_branch: str | None = None
    provider_tags: list[str] = []
    publish_results: bool = Field(default=False, description="publish verification results to the broker (needs provider_version)")

    @field_validator("include_wip_since", mode="before")
    @classmethod
    def _iso_date(cls, value: Any) -> Any:
        return value.isoformat() if hasattr(value, "isoformat") else value  # a TOML date, unquoted

    @model_validator(mode="after")
    def _publishable(self) -> PactBroker:
        if self.publish_results and not self.provider_version:
            raise ValueError("publish_results needs provider_version: the broker records results per provider version")
        return self


class PactContracts(Model):
    sources: list[str | PactUrlSource] = Field(default=[], description="folders, pact files, http(s) URLs, or { url, token_env } tables")
    broker: PactBroker | None = None
    states: dict[str, ProviderState] = {}
    messages: dict[str, MessageSource] = {}
    request_timeout_ms: int = Field(default=5000, gt=0)
    concurrency: int | None = Field(default=None, gt=0, description="verifier processes at once; default 4 per core, at most one per job")
    per_provider: int = Field(default=1, gt=0, description="verifier processes at once per provider (state handlers of one provider interleave when > 1)")

    @model_validator(mode="after")
    def _some_source(self) -> PactContracts:
        if not self.sources and self.broker is None:
            raise ValueError("no pact source: give `sources` (folders, files or URLs) or a [contracts.pact.broker]")
        return self


class OperationFixture(Model):
    """One request to an OpenAPI operation, when the document's examples are not enough."""

    path: dict[str, str | int] = {}
    query: dict[str, str | int] = {}
    headers: dict[str, str] = {}
    body: Any = None
    status: int | None = None
    setup: Action | None = None


class OpenApiContracts(Model):
    """Every operation of every service's OpenAPI document, exercised and validated with openapi-core."""

    services: list[str] | None = None
    fixtures: dict[str, list[OperationFixture]] = {}
    schemathesis: list[str] = []
    request_timeout: float = Field(default=10.0, gt=0)


class ChannelSource(Model):
    """How the producer of an AsyncAPI channel is made to publish, and where to listen."""

    trigger: Action
    broker: str
    timeout: float = Field(default=10.0, gt=0)


class AsyncApiContracts(Model):
    channels: dict[str, ChannelSource] = {}


class SchemaContract(Model):
    """The tables a service expects in a shared store (a YAML/TOML/JSON table spec)."""

    service: str
    store: str
    path: str


class Contracts(Model):
    pact: PactContracts | None = None
    openapi: OpenApiContracts | None = None
    asyncapi: AsyncApiContracts | None = None
    schema_: list[SchemaContract] = Field(default=[], alias="schema")
    pact_exclude: SkipJsonSchema[list[str]] = Field(default=[], json_schema_extra={"internal": True}, description="`[contracts.pact] exclude`: globs of pact files, relative to the "
                                    "config's folder, that the architecture contracts may hold without any source declaring them")

    @model_validator(mode="before")
    @classmethod
    def _lift_pact_exclude(cls, data: Any) -> Any:
        """`[contracts.pact] exclude` is read here, so it works in a project that verifies no pacts at all
        (a [contracts.pact] table with only `exclude` verifies nothing)."""
        if isinstance(data, dict) and "pact_exclude" in data:
            raise ValueError("`pact_exclude` is not a key of [contracts]; write `exclude = [...]` under [contracts.pact]")
        if not (isinstance(data, dict) and isinstance(data.get("pact"), dict) and "exclude" in data["pact"]):
            return data
        pact = dict(data["pact"])
        exclude = pact.pop("exclude")
        if not (isinstance(exclude, list) and all(isinstance(g, str) and g.strip() for g in exclude)):
            raise ValueError("[contracts.pact] exclude must be a list of glob strings, e.g. [\"contracts/legacy/*.json\"]")
        return {**data, "pact": pact or None, "pact_exclude": exclude}


class Dataset(Model):
    path: str
    store: str
    table: str
    source: str
    refresh: str = Field(pattern=r"^\d+[hdw]$", description="cadence: 12h, 7d, 2w")
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    checksum: bool = Field(default=False, description="compare a SHA-256 of the table's content in the store with the CSV file")

    @model_validator(mode="after")
    def _checksum_needs_csv(self) -> Dataset:
        if self.checksum and not self.path.lower().endswith(".csv"):
            raise ValueError("`checksum = true` needs a CSV file (its header names the columns to compare)")
        return self


class Suite(Model):
    path: str = "tests"
    marker: str = "integration"
    args: list[str] = []
    timeout: int = Field(default=300, gt=0)
    maxfail: int | None = None


class Signoff(Model):
    approver: str | None = None
    role: str = "Quality Orchestrator"
    key: str | None = None
    pubkey: str | None = None
    scope: str = "integration validation for quality audit and staging deployment"


class HistoryStore(Model):
    """Where run history lives: SQLite under .interlock/ by default, or a shared database by URL."""

    url: str | None = None


class Config(Model):
    project: Project
    prerequisites: Prerequisites
    services: dict[str, Service]
    environments: dict[str, Environment]
    contracts: Contracts = Contracts()
    datasets: dict[str, Dataset] = {}
    suite: Suite = Suite()
    owners: dict[str, str] = {}
    gates: Gates = Gates()
    waivers: list[Waiver] = []
    signoff: Signoff = Signoff()
    store: HistoryStore = HistoryStore()


class Loaded(BaseModel):
    """A config together with where it came from."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    config: Config
    path: Path
    root: Path

    def resolve(self, relative: str) -> Path:
        """A path from the config, relative to the system's root."""
        return (self.root / relative).resolve()

    def environment(self, name: str) -> Environment:
        try:
            return self.config.environments[name]
        except KeyError:
            known = ", ".join(sorted(self.config.environments))
            raise ConfigError([Problem(str(self.path), f"no environment {name!r}; known: {known}", key=f"environments.{name}")]) from None


_KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""")
_PART = re.compile(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""")


def _parts(dotted: str) -> tuple[str, ...]:
    return tuple(p.strip("\"'") for p in _PART.findall(dotted))


def key_lines(text: str) -> dict[tuple[str | int, ...], int]:
    """Map each key path of a TOML text to its line (tables, arrays of tables, keys)."""
    lines: dict[tuple[str | int, ...], int] = {}
    table: tuple[str | int, ...] = ()
    counts: dict[tuple[str, ...], int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("[["):
            name = _parts(stripped[2 : stripped.find("]]")])
            counts[name] = counts.get(name, -1) + 1
            table = (*name, counts[name])
            lines.setdefault(name, number)
            lines[table] = number
        elif stripped.startswith("["):
            table = _parts(stripped[1 : stripped.find("]")])
            lines[table] = number
            for end in range(1, len(table)):
                lines.setdefault(table[:end], number)  # an implicit parent table lives where it is first named
        elif match := _KEY.match(line):
            lines.setdefault((*table, *_parts(match.group(1))), number)
    return lines


def _line_of(lines: dict[tuple[str | int, ...], int], loc: tuple[str | int, ...]) -> int | None:
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model that owns the last key of `loc`, to suggest what was meant."""
    model: Any = Config
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            continue  # a free-form key of a dict of models: stay on the model
        model = _unwrap(field.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    for arg in getattr(annotation, "__args__", ()) or ():
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        inner = _unwrap(arg)
        if inner is not None:
            return inner
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


ACTION_SHAPE = "one action table ({command=[...]}, {http={...}} or {sql=..., store=...})"


def _mentions_action(annotation: Any) -> bool:
    """Whether a field takes actions, so its shape errors name the three action tables."""
    if annotation is Action:
        return True
    return any(_mentions_action(arg) for arg in getattr(annotation, "__args__", ()) or ())


def _field_at(loc: tuple[str | int, ...]) -> Any:
    """The pydantic field that `loc` ends in (skipping list indexes and free-form dict keys), or None."""
    while loc and isinstance(loc[-1], int):
        loc = loc[:-1]
    owner = _model_at(loc) if loc else None
    if owner is None or not loc:
        return None
    name = str(loc[-1])
    return next((f for n, f in owner.model_fields.items() if name in (n, f.alias)), None)


_SHAPES = {
    "string_type": "must be a string in quotes", "int_type": "must be a whole number", "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number", "float_type": "must be a number", "float_parsing": "must be a number",
    "bool_type": "must be true or false", "bool_parsing": "must be true or false", "list_type": "must be a list [...]",
    "dict_type": "must be a table", "model_type": "must be a table", "model_attributes_type": "must be a table",
    "datetime_type": "must be a TOML date-time, e.g. 2027-01-31T00:00:00Z", "datetime_parsing": "must be a TOML date-time, e.g. 2027-01-31T00:00:00Z",
}


def _shape_message(error: Any, loc: tuple[str | int, ...]) -> str | None:
    """Interlock's sentence for a wrong type or value, or None to keep the validator's own (interlock's) message."""
    kind, ctx = error["type"], error.get("ctx") or {}
    field = _field_at(loc)
    if kind in _SHAPES or kind in ("union_tag_invalid", "union_tag_not_found"):
        name = str(next((p for p in reversed(loc) if isinstance(p, str)), "value"))
        if field is not None and _mentions_action(field.annotation):
            takes_list = "list" in str(field.annotation)
            return f"`{name}` must be {ACTION_SHAPE}" + (" or a list of them" if takes_list else "")
        return f"`{name}` {_SHAPES.get(kind, 'has the wrong shape')}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', 'the listed values')}"
    if kind == "string_pattern_mismatch":
        example = (field.examples or [None])[0] if field is not None else None
        return f"does not have the expected form ({ctx.get('pattern')})" + (f", e.g. {example!r}" if example is not None else "")
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        words = {"greater_than": "greater than", "greater_than_equal": "at least", "less_than": "less than", "less_than_equal": "at most"}[kind]
        bound = next(iter(ctx.values()), "")
        return f"must be {words} {bound}"
    if kind in ("too_short", "too_long"):
        return f"needs at least {ctx.get('min_length')} item(s)" if kind == "too_short" else f"allows at most {ctx.get('max_length')} item(s)"
    return None


def _problem(path: Path, lines: dict[tuple[str | int, ...], int], error: Any) -> Problem:
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    # A union of shapes (one action or a list of them) reports one error per branch, each with the branch in its loc.
    loc = tuple(p for p in loc if not (isinstance(p, str) and p.startswith(("list[", "Action"))))
    key = ".".join(str(p) for p in loc) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        owner = _model_at(loc)
        known = [f.alias or n for n, f in owner.model_fields.items() if _documented(f)] if owner else []
        typed = str(loc[-1])
        close = difflib.get_close_matches(typed, [k for k in known if k != typed], n=1)
        hint = f"did you mean `{close[0]}`?" if close else f"known keys: {', '.join(known)}" if known else "remove it"
        message = f"unknown key; {hint}"
    elif error["type"] == "missing":
        message = "required key is missing; add it"
    elif message.startswith("`target`"):
        loc = (*loc, "target")  # point at the old key itself, not at its table
        key = ".".join(str(p) for p in loc)
    elif (shaped := _shape_message(error, loc)) is not None:
        message = shaped
    return Problem(str(path), message, _line_of(lines, loc), key)


def _documented(field: Any) -> bool:
    """A key a user writes (not an internal field such as the lifted `pact_exclude`)."""
    return not (isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("internal"))


def _other_branch(data: Any, loc: tuple[str | int, ...]) -> bool:
    """Whether an error comes from the branch of "one action or a list of them" that the value written is not
    (a table is not a list, a list is not a table): that branch's complaint would only confuse."""
    for index, part in enumerate(loc):
        if isinstance(part, str) and part.startswith(("list[", "function-after[")):
            value: Any = data
            for step in loc[:index]:
                try:
                    value = value[step]
                except (KeyError, IndexError, TypeError):
                    return False
            return isinstance(value, dict) if part.startswith("list[") else isinstance(value, list)
    return False


def _dedupe(problems: list[Problem]) -> list[Problem]:
    """One problem per key and message: a union reports the same wrong shape once per branch."""
    unique: dict[tuple[str | None, str], Problem] = {}
    for problem in problems:
        unique.setdefault((problem.key, problem.message), problem)
    return list(unique.values())


def parse(text: str, path: Path) -> Config:
    """Parse and validate config text; raise ConfigError listing every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = int(match.group(1)) if match else None
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ConfigError([Problem(str(path), f"not valid TOML: {reason}; fix the syntax", line)]) from None
    except (ValueError, RecursionError) as exc:  # well-formed, but past what tomllib converts
        reason = "nested too deeply" if isinstance(exc, RecursionError) else "a number has more than 4300 digits"
        raise ConfigError([Problem(str(path), f"not valid TOML: {reason}; fix the value")]) from None
    if path.name == "pyproject.toml":
        tool = data.get("tool")
        data = tool.get("interlock", {}) if isinstance(tool, dict) else {}
    lines = key_lines(text)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_dedupe([_problem(path, lines, e) for e in exc.errors() if not _other_branch(data, e['loc'])])) from None
    problems = _cross_check(config, path, lines)
    if problems:
        raise ConfigError(problems)
    return config


def _cross_check(config: Config, path: Path, lines: dict[tuple[str | int, ...], int]) -> list[Problem]:
    """References between sections must resolve (a service, store or broker that is named must exist)."""
    problems: list[Problem] = []

    def add(loc: tuple[str | int, ...], message: str) -> None:
        problems.append(Problem(str(path), message, _line_of(lines, loc), ".".join(map(str, loc))))

    for loc, text in _strings(config.contracts.model_dump(by_alias=True, exclude_none=True), ("contracts",)):
        for kind, name in PLACEHOLDER.findall(text):
            if name not in config.services:
                add(loc, f"{{{kind}:{name}}}: {name!r} is not a declared service; fix the name")
    for env_name, env in config.environments.items():
        for loc, text in _strings(env.model_dump(exclude_none=True), ("environments", env_name)):
            for kind, name in PLACEHOLDER.findall(text):
                if name not in env.services:
                    add(loc, f"{{{kind}:{name}}}: {name!r} is not a service of environment {env_name!r}; fix the name")
                elif kind == "port" and env.services[name].port is None:
                    add(loc, f"{{port:{name}}}: service {name!r} has no `port` in environment {env_name!r}; "
                             f'give it `port = "auto"` (or a number) under [environments.{env_name}.services.{name}]')
        for svc in env.services:
            if svc not in config.services:
                add(("environments", env_name, "services", svc), f"service {svc!r} is not declared under [services]; declare it or fix the name")
        for svc in config.services:
            if svc not in env.services:
                add(("environments", env_name, "services"), f"service {svc!r} has no runtime in environment {env_name!r}; add [environments.{env_name}.services.{svc}]")
        known = set(config.services) | set(env.stores) | set(env.brokers)
        for svc_name, service in config.services.items():
            for target in service.depends_on:
                if target not in known:
                    add(("services", svc_name, "depends_on"), f"{target!r} is not a service, store or broker of environment {env_name!r}")
        for loc, action in _actions(config):
            if action.store is not None and action.store not in env.stores:
                add((*loc, "store"), f"store {action.store!r} is not defined in environment {env_name!r}; "
                                     f"declare [environments.{env_name}.stores.{action.store}] or fix the name")
        for loc, broker in _broker_uses(config):
            if broker not in env.brokers:
                add(loc, f"broker {broker!r} is not defined in environment {env_name!r}; "
                         f"declare [environments.{env_name}.brokers.{broker}] or fix the name")
        for index, entry in enumerate(config.contracts.schema_):
            if entry.store not in env.stores:
                add(("contracts", "schema", index, "store"), f"store {entry.store!r} is not defined in environment {env_name!r}; "
                                                              f"declare [environments.{env_name}.stores.{entry.store}] or fix the name")
        for name, dataset in config.datasets.items():
            if dataset.store not in env.stores:
                add(("datasets", name, "store"), f"store {dataset.store!r} is not defined in environment {env_name!r}; "
                                                 f"declare [environments.{env_name}.stores.{dataset.store}] or fix the name")
    for index, entry in enumerate(config.contracts.schema_):
        if entry.service not in config.services:
            add(("contracts", "schema", index, "service"), f"service {entry.service!r} is not declared under [services]; declare it or fix the name")
    openapi, pact = config.contracts.openapi, config.contracts.pact
    for name in (openapi.services or []) if openapi else []:
        if name not in config.services:
            add(("contracts", "openapi", "services"), f"service {name!r} is not declared under [services]; declare it or fix the name")
    for name in pact.broker.providers if pact and pact.broker else []:
        if name not in config.services:
            add(("contracts", "pact", "broker", "providers"), f"provider {name!r} is not declared under [services]; declare it or fix the name")
    from interlock.gates import policy_problems  # gates owns the conditions; it imports this module

    for loc, problem in policy_problems(config.gates, config.waivers):
        add(loc, problem)
    return problems


def _as_list(value: Any) -> list[Any]:
    """One action or a list of them, as a list (None as none)."""
    return [] if value is None else list(value) if isinstance(value, (list, tuple)) else [value]


def _actions(config: Config) -> list[tuple[tuple[str | int, ...], Action]]:
    """Every action of the config with its key path, so each store it names is checked against every environment."""
    found: list[tuple[tuple[str | int, ...], Action]] = []

    def collect(loc: tuple[str | int, ...], value: Any) -> None:
        actions = _as_list(value)
        for index, action in enumerate(actions):
            found.append(((*loc, index) if isinstance(value, (list, tuple)) else loc, action))

    pact, openapi, asyncapi = config.contracts.pact, config.contracts.openapi, config.contracts.asyncapi
    for name, state in (pact.states.items() if pact else []):
        for phase in ("setup", "teardown"):
            collect(("contracts", "pact", "states", name, phase), getattr(state, phase))
    for name, message in (pact.messages.items() if pact else []):
        collect(("contracts", "pact", "messages", name, "trigger"), message.trigger)
    for name, channel in (asyncapi.channels.items() if asyncapi else []):
        collect(("contracts", "asyncapi", "channels", name, "trigger"), channel.trigger)
    for operation, fixtures in (openapi.fixtures.items() if openapi else []):
        for index, fixture in enumerate(fixtures):
            collect(("contracts", "openapi", "fixtures", operation, index, "setup"), fixture.setup)
    return found


def _broker_uses(config: Config) -> list[tuple[tuple[str | int, ...], str]]:
    """Every broker the config names outside the environments, with its key path."""
    pact, asyncapi = config.contracts.pact, config.contracts.asyncapi
    uses: list[tuple[tuple[str | int, ...], str]] = [
        (("contracts", "pact", "messages", name, "broker"), m.broker) for name, m in (pact.messages.items() if pact else [])]
    uses += [(("contracts", "asyncapi", "channels", name, "broker"), c.broker) for name, c in (asyncapi.channels.items() if asyncapi else [])]
    return uses


def _strings(value: Any, loc: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], str]]:
    """Every string inside nested dicts and lists, with its key path (where a placeholder is written)."""
    if isinstance(value, str):
        return [(loc, value)]
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in _strings(item, (*loc, key))]
    if isinstance(value, list):
        return [found for index, item in enumerate(value) for found in _strings(item, (*loc, index))]
    return []


def find(start: Path, explicit: Path | None = None) -> Path:
    """The config file: `--config`, else `interlock.toml` in `start` or a parent."""
    if explicit is not None:
        return explicit
    for folder in (start, *start.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    raise ConfigError([Problem(str(start / CONFIG_NAME), "no interlock.toml here or in a parent folder; run `interlock init` or pass --config")])


def load(path: Path) -> Loaded:
    """Read, parse and validate a config file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError([Problem(str(path), f"cannot read the config: {exc.strerror}; check the path and permissions")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError([Problem(str(path), "not UTF-8 text; save the file as UTF-8", line)]) from None
    config = parse(text, path)
    return Loaded(config=config, path=path.resolve(), root=path.resolve().parent)


def locator(loaded: Loaded) -> Callable[[tuple[str | int, ...], str], Problem]:
    """A maker of problems at a key of the loaded config, with the key's line (an array item on its own line)."""
    try:
        text = loaded.path.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""
    lines, rows = key_lines(text), text.splitlines()

    def at(loc: tuple[str | int, ...], message: str) -> Problem:
        line = _line_of(lines, loc)
        if line is not None and loc and isinstance(loc[-1], int):
            line = _item_line(rows, line, _item_value(loaded.config, loc)) or line
        return Problem(str(loaded.path), message, line, ".".join(map(str, loc)))

    return at


def _item_value(config: Config, loc: tuple[str | int, ...]) -> str | None:
    value: Any = config.model_dump(by_alias=True)
    for part in loc:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value if isinstance(value, str) else None


def _item_line(rows: list[str], start: int, value: str | None) -> int | None:
    """The line, from an array's key on, where the quoted item `value` is written."""
    if value is None:
        return None
    quoted = (f'"{value}"', f"'{value}'")
    for number in range(start, min(len(rows), start + 200) + 1):
        if any(q in rows[number - 1] for q in quoted):
            return number
    return None


def python() -> str:
    """The interpreter that runs interlock, for `{python}` in commands."""
    return sys.executable
