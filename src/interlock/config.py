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
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator, model_validator

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
    state_url: str | None = Field(default=None, pattern=r"^(/|https?://)", description=(
        "the provider's own provider-state-change endpoint, called the way Pact's convention calls it: a POST of "
        '`{"state", "params", "action": "setup" | "teardown"}` before and after each interaction with a state; '
        "a path is joined to the service's URL in the environment, a full http(s) URL is used as is. A state the "
        "provider has its own handler for ([contracts.pact.providers.NAME.states]) goes to that handler instead"),
        examples=["/_pact/provider-states"])


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


def _one_or_many(value: Any) -> str:
    return "function-actions" if isinstance(value, list) else "function-action"


#: One action table or a list of them, run in order. The discriminator picks the shape first, so a bad
#: action gets its own problem rather than one per shape; the tags start with "function-" because a
#: problem's key drops such parts (`_problem`), leaving the config's own key path.
Actions = Annotated[Union[Annotated[Action, Tag("function-action")], Annotated[list[Action], Tag("function-actions")]], Discriminator(_one_or_many)]


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
    mode: Literal["stream", "pubsub"] = Field(default="stream", examples=["pubsub"], description=(
        "for kind `redis` only: how the producer publishes, so how a message is captured: `stream` reads the new entries "
        "of the Redis Stream named by the topic (XADD producers), `pubsub` subscribes to the channel named by the topic "
        "(PUBLISH producers; Redis carries no content type there, so it is assumed from the payload's bytes)"))

    @model_validator(mode="after")
    def _mode_of_the_kind(self) -> Broker:
        """A mode on a kind without modes would be silently ignored: refuse it instead."""
        modes = BROKER_KINDS[self.kind].modes
        if "mode" in self.model_fields_set and self.mode not in modes:
            with_modes = ", ".join(f"`{name}`" for name, kind in BROKER_KINDS.items() if kind.modes)
            raise ValueError(f"`mode` applies to kind {with_modes} only; a {self.kind} broker has no mode")
        return self

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
    """What puts a provider into a named state before an interaction, and takes it out after: each one action or a list, run in order.

    Every action gets the state, its parameters, the action, the provider and the consumer: a command as JSON
    on stdin and INTERLOCK_* variables, an HTTP call as its body (when it sets no `json`), SQL as bind parameters.
    """

    setup: Actions | None = Field(default=None, description=(
        "actions run before each interaction that names the state (one action table or a list, in order); "
        "the state's parameters reach a command on stdin and in INTERLOCK_STATE_PARAMS, SQL as `:name` binds"),
        examples=[{"sql": "INSERT INTO users (id, name) VALUES (:id, :name)", "store": "main"}])
    teardown: Actions | None = Field(default=None, description="actions run after each interaction that names the state",
                                                   examples=[[{"command": ["python", "scripts/reset.py"]}]])

    def actions(self, phase: str) -> list[Action]:
        """The phase's actions as a list, whichever way the config wrote them."""
        value = getattr(self, phase)
        return [] if value is None else value if isinstance(value, list) else [value]


class PactProvider(Model):
    """Settings of pact verification for one provider."""

    states: dict[str, ProviderState] = Field(default={}, description=(
        "this provider's own provider-state handlers, by state name; they win over the service's `state_url` "
        "and over [contracts.pact.states], so two providers sharing a state name have two handlers"),
        examples=[{"a user exists": {"setup": {"command": ["python", "scripts/add_user.py"]}}}])


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
    states: dict[str, ProviderState] = Field(default={}, description=(
        "provider-state handlers by state name for every provider without its own handler of that state "
        "(in [contracts.pact.providers.NAME.states]) and without a `state_url`"),
        examples=[{"an order exists": {"setup": {"sql": "INSERT INTO orders (id) VALUES (1)", "store": "main"}}}])
    providers: dict[str, PactProvider] = Field(default={}, description="per-provider settings, by service name: the provider's own state handlers",
                                               examples=[{"users": {"states": {"a user exists": {"setup": {"command": ["python", "add_user.py"]}}}}}])
    messages: dict[str, MessageSource] = {}
    request_timeout_ms: int = Field(default=5000, gt=0)
    concurrency: int | None = Field(default=None, gt=0, description="verifier processes at once; default 4 per core, at most one per job")
    per_provider: int = Field(default=1, gt=0, examples=[2], description=(
        "verifier processes at once per provider whose pacts name no provider state; a provider with states is "
        "always verified one interaction after another, so its state changes never interleave"))

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
    pact_exclude: list[str] = Field(default=[], description="`[contracts.pact] exclude`: globs of pact files, relative to the "
                                    "config's folder, that the architecture contracts may hold without any source declaring them")

    @model_validator(mode="before")
    @classmethod
    def _lift_pact_exclude(cls, data: Any) -> Any:
        """`[contracts.pact] exclude` is read here, so it works in a project that verifies no pacts at all
        (a [contracts.pact] table with only `exclude` verifies nothing)."""
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


#: `METHOD /path/template`, optionally after `service:`, as a feature list writes an HTTP interface.
HTTP_INTERFACE = r"^(?:[A-Za-z0-9_.-]+:)?(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) /\S*$"


class Scope(Model):
    """What the integration scope leaves out on purpose: pact interfaces no feature of the feature list covers."""

    out_of_scope: list[str] = Field(default=[], description=(
        "HTTP interfaces that pacts exercise but no feature covers, as `METHOD /path/template` (optionally `service:` first); "
        "a pact request matching one is verified but does not fail Gate 1 (scope.unmatched_pact_interfaces)"),
        examples=[["GET /admin/stats", "users:DELETE /users/{uid}"]])

    @field_validator("out_of_scope")
    @classmethod
    def _interfaces(cls, value: list[str]) -> list[str]:
        for entry in value:
            if not re.match(HTTP_INTERFACE, entry):
                raise ValueError(f"{entry!r} is not `METHOD /path/template`; write e.g. \"GET /users/{{uid}}\" or \"users:GET /users/{{uid}}\"")
        return value


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
    scope: Scope = Scope()
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


def _problem(path: Path, lines: dict[tuple[str | int, ...], int], error: Any) -> Problem:
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    key = ".".join(str(p) for p in loc) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        owner = _model_at(loc)
        known = list(owner.model_fields) if owner else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean `{close[0]}`?" if close else f"known keys: {', '.join(known)}" if known else "remove it"
        message = f"unknown key; {hint}"
    elif error["type"] == "missing":
        message = "required key is missing; add it"
    elif message.startswith("`target`"):
        loc = (*loc, "target")  # point at the old key itself, not at its table
        key = ".".join(str(p) for p in loc)
    return Problem(str(path), message, _line_of(lines, loc), key)


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
        raise ConfigError([_problem(path, lines, e) for e in exc.errors()]) from None
    problems = _cross_check(config, path, lines)
    if problems:
        raise ConfigError(problems)
    return config


def _cross_check(config: Config, path: Path, lines: dict[tuple[str | int, ...], int]) -> list[Problem]:
    """References between sections must resolve (a service, store or broker that is named must exist)."""
    problems: list[Problem] = []

    def add(loc: tuple[str | int, ...], message: str) -> None:
        problems.append(Problem(str(path), message, _line_of(lines, loc), ".".join(map(str, loc))))

    for provider in (config.contracts.pact.providers if config.contracts.pact else {}):
        if provider not in config.services:
            add(("contracts", "pact", "providers", provider), f"provider {provider!r} is not a service of [services]; fix the name or declare the service")
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
        pact = config.contracts.pact
        handlers: list[tuple[tuple[str | int, ...], ProviderState]] = [(("contracts", "pact", "states", name), state) for name, state in (pact.states.items() if pact else [])]
        handlers += [(("contracts", "pact", "providers", provider, "states", name), state)
                     for provider, settings in (pact.providers.items() if pact else []) for name, state in settings.states.items()]
        for where, state in handlers:
            for phase in ("setup", "teardown"):
                for index, action in enumerate(state.actions(phase)):
                    at = (*where, phase, index, "store") if isinstance(getattr(state, phase), list) else (*where, phase, "store")
                    if action.store and action.store not in env.stores:
                        add(at, f"store {action.store!r} is not defined in environment {env_name!r}")
        for name, message in (pact.messages.items() if pact else []):
            if message.broker not in env.brokers:
                add(("contracts", "pact", "messages", name, "broker"), f"broker {message.broker!r} is not defined in environment {env_name!r}")
        for name, dataset in config.datasets.items():
            if dataset.store not in env.stores:
                add(("datasets", name, "store"), f"store {dataset.store!r} is not defined in environment {env_name!r}")
    from interlock.gates import policy_problems  # gates owns the conditions; it imports this module

    for loc, problem in policy_problems(config.gates, config.waivers):
        add(loc, problem)
    return problems


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


def python() -> str:
    """The interpreter that runs interlock, for `{python}` in commands."""
    return sys.executable
