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
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from interlock.brokers import KINDS as BROKER_KINDS
from interlock.errors import ConfigError, Problem
from interlock.identity import Identity, commit_key, current, top_level
from interlock.ports import is_local, port_of
from interlock.policy import Gates, Model, Waiver

CONFIG_NAME = "interlock.toml"
#: The registry's first broker kind (the embedded log, a SQLite file): the examples never spell a kind themselves.
_FIRST_KIND = next(iter(BROKER_KINDS))
#: `{url:NAME}` and `{port:NAME}`: a service's URL and port in this environment (interlock.runspec fills them).
PLACEHOLDER = re.compile(r"\{(url|port):([^{}]+)\}")


class Project(Model):
    name: str = Field(description="the system's name, shown in every report and in the sign-off", examples=['shop'])
    version: str | None = Field(default=None, description="the system's version under validation, recorded in the evidence", examples=['1.4.0'])
    repository: str | None = Field(default=None, min_length=1, description=(
        "the git repository under test, relative to the config's folder (default: the repository the config's folder is in); "
        "the run identity, the commit the sign-off certifies and the flaky history come from it; `{repository}` names it in commands"),
        examples=['../system'])


class Prerequisite(Model):
    """An input from another protocol, pinned by version and/or SHA-256."""

    path: str = Field(description="the input's file or folder, relative to the config's folder", examples=['docs/features.json'])
    version: str | None = Field(default=None, description='the version the input must declare (a `version` key, a `Version:` line in Markdown, or a VERSION file in a folder)', examples=['1.0.0'])
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$", description="SHA-256 (64 lowercase hex) the file, or the folder's tree digest, must have", examples=['9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'])
    version_key: str = Field(default="version", description="the key (or `Key:` line, or KEY= variable) that holds the input's version", examples=['version'])

    @model_validator(mode="after")
    def _pinned(self) -> Prerequisite:
        if self.version is None and self.sha256 is None:
            raise ValueError("pin it with `version` or `sha256` (or both)")
        return self


class Prerequisites(Model):
    feature_list: Prerequisite = Field(description="protocol 3's feature list: JSON or YAML `features: [{id, title, interfaces}]`, or a Markdown checklist (docs/inputs.md)", examples=[{'path': 'docs/features.json', 'version': '1.0.0'}])
    architecture_contracts: Prerequisite = Field(description="protocol 6's contracts folder (pacts, OpenAPI, AsyncAPI, table specs) with a VERSION file", examples=[{'path': 'contracts', 'version': '1.0.0'}])
    environment_baseline: Prerequisite = Field(description="protocol 7's environment baseline: TOML, YAML or .env (docs/inputs.md)", examples=[{'path': 'env/baseline.toml', 'version': '1.0.0'}])


class Service(Model):
    """What a service is, whatever the environment."""

    description: str = Field(default="", description='what the service does, for the reports', examples=['Order intake and status'])
    owner: str | None = Field(default=None, description='the team that owns the service; defects found in it are assigned there', examples=['team-orders'])
    kind: Literal["http", "worker"] = Field(default="http", description='"http" for a service that answers requests, "worker" for one that only consumes or produces messages', examples=['http'])
    depends_on: list[str] = Field(default=[], description='services, stores or brokers this service calls (the dependency graph of the scope matrix)', examples=[['catalog', 'shopdb']])
    openapi: str | None = Field(default=None, description="the service's OpenAPI document, relative to the config's folder", examples=['contracts/openapi/orders.yaml'])
    asyncapi: str | None = Field(default=None, description="the service's AsyncAPI document, relative to the config's folder", examples=['contracts/asyncapi/orders.yaml'])
    state_url: str | None = Field(default=None, pattern=r"^(/|https?://)", description=(
        "the provider's own provider-state-change endpoint, called the way Pact's convention calls it: a POST of "
        '`{"state", "params", "action": "setup" | "teardown"}` before and after each interaction with a state; '
        "a path is joined to the service's URL in the environment, a full http(s) URL is used as is. A state the "
        "provider has its own handler for ([contracts.pact.providers.NAME.states]) goes to that handler instead"),
        examples=["/_pact/provider-states"])
    traces: Literal["required", "optional"] = Field(default="optional", description=(
        '"required": Gate 2 fails when the built-in OTLP receiver got no span from this service; "optional": a missing span is only reported'),
        examples=["required"])
    metrics: list[str] = Field(default=[], description="metric family names that must appear in the service's Prometheus scrape (Gate 2 names the missing ones)",
                               examples=[["http_requests_total"]])
    pact_names: list[str] = Field(default=[], description=(
        "the names pacts use for this service as consumer or provider, when they differ from its name here; "
        "a pact naming one of them is this service's (verified against it, its defects owned by it)"), examples=[["ProductService"]])
    runtime: str | None = Field(default=None, description=(
        "the key of the environment baseline's [versions] that this service's version is checked against in step 1.2; "
        "read with `version_command` or `version_url`, else with the built-in reader of that runtime (node, go, java, ...)"),
        examples=["node"])
    version_command: list[str] | None = Field(default=None, min_length=1, description=(
        "a command that prints the service's runtime version (the first version-like text of its output is taken), "
        "run in the config's folder; placeholders allowed"), examples=[["node", "--version"]])
    version_url: str | None = Field(default=None, description="an http(s) URL answering JSON that holds the service's version (placeholders allowed)",
                                    examples=["{url:products}/version"])
    version_path: str | None = Field(default=None, description="the dotted path of the version in `version_url`'s JSON answer; needs `version_url`",
                                     examples=["runtime.node"])

    @model_validator(mode="after")
    def _one_version_reader(self) -> Service:
        if self.version_command is not None and self.version_url is not None:
            raise ValueError("give one of `version_command` and `version_url`, not both")
        if (self.version_command is not None or self.version_url is not None) and self.runtime is None:
            raise ValueError("a version reader needs `runtime`: the baseline [versions] key its version is checked against")
        if self.version_path is not None and self.version_url is None:
            raise ValueError("`version_path` needs `version_url`: it is a path into that URL's JSON answer")
        return self


class HttpCall(Model):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = Field(default="GET", description='the HTTP method', examples=['POST'])
    url: str = Field(description="the URL called; `{url:NAME}` stands for a service's URL in the environment", examples=['{url:orders}/_test/reset'])
    json_body: Any = Field(default=None, alias="json", description='a JSON body to send (written `json`)', examples=[{'id': 1}])
    expect_status: list[int] = Field(default=[200, 201, 202, 204], description='the statuses that count as success', examples=[[200, 204]])


class Action(Model):
    """A setup or teardown step: SQL on a store, an HTTP call, or a command."""

    sql: str | None = Field(default=None, description='SQL run on `store`', examples=["INSERT INTO products (id, name) VALUES (1, 'pen')"])
    store: str | None = Field(default=None, description='the store (of the environment) that `sql` runs on', examples=['shopdb'])
    http: HttpCall | None = Field(default=None, description='an HTTP call: { method, url, json, expect_status }', examples=[{'method': 'POST', 'url': '{url:orders}/orders', 'json': {'product_id': 1}}])
    command: list[str] | None = Field(default=None, description="a command and its arguments, run from the config's folder; `{python}` is interlock's interpreter", examples=[['{python}', 'scripts/seed.py']])

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

    command: list[str] | None = Field(default=None, description='how interlock starts the service; none means it is already running', examples=[['{python}', '-m', 'shop.orders']])
    cwd: str = Field(default=".", description="the folder the command runs in, relative to the config's folder", examples=['services/orders'])
    env: dict[str, str] = Field(default={}, description="environment variables for the service's process (placeholders allowed)", examples=[{'PORT': '{port:orders}'}])
    port: int | Literal["auto"] | None = Field(default=None, description=(
        'the TCP port the service listens on: a number, or "auto" for a free one interlock picks for each run; '
        "`{port:NAME}` stands for it in the config (the service's url, health, env and command)"), examples=['auto'])
    url: str = Field(description="the service's base URL in this environment", examples=['http://127.0.0.1:{port:orders}'])
    health: str | None = Field(default=None, description='a URL that answers 2xx once the service is ready', examples=['{url:orders}/health'])
    start_timeout: float = Field(default=30.0, gt=0, description='seconds to wait for the service to become healthy', examples=[30.0])
    stop_timeout: float = Field(default=10.0, gt=0, description='seconds to wait for the service to stop before it is killed', examples=[10.0])


class Store(Model):
    kind: Literal["sqlite", "postgresql", "mysql"] = Field(description='the database engine', examples=['postgresql'])
    url: str = Field(description='SQLAlchemy-style URL of the database (placeholders and variables allowed)', examples=['postgresql://shop:{SHOP_DB_PASSWORD}@127.0.0.1:5432/shop'])
    migrations: str | None = Field(default=None, description='folder of SQL migrations whose files must all be applied', examples=['migrations'])
    migrations_table: str = Field(default="schema_migrations", description='the table that records applied migrations', examples=['schema_migrations'])


class Broker(Model):
    kind: str = Field(description=f"the broker's kind, one of `interlock.brokers.KINDS`: {', '.join(BROKER_KINDS)}", examples=list(BROKER_KINDS))
    url: str = Field(description="the broker's URL", examples=['redis://127.0.0.1:6379/0'])
    exchange: str | None = Field(default=None, description='the exchange to bind to (RabbitMQ)', examples=['events'])
    mode: Literal["stream", "pubsub"] = Field(default="stream", examples=["pubsub"], description=(
        "for kind `redis` only: how the producer publishes, so how a message is captured: `stream` reads the new entries "
        "of the Redis Stream named by the topic (XADD producers), `pubsub` subscribes to the channel named by the topic "
        "(PUBLISH producers; Redis carries no content type there, so it is assumed from the payload's bytes)"))

    @model_validator(mode="after")
    def _mode_of_the_kind(self) -> Broker:
        """A mode on a kind without modes would be silently ignored: refuse it instead."""
        if "mode" in self.model_fields_set and self.mode not in BROKER_KINDS[self.kind].modes:  # a kind's module loads only when asked
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
    description: str = Field(default="", description='what this environment is', examples=['local processes and the shared test databases'])
    vars: dict[str, str] = Field(default={}, description='variables for placeholders `{NAME}` in this environment', examples=[{'SHOP_DB_PASSWORD': 'secret'}])
    setup: list[list[str]] = Field(default=[], description='commands run before the services start, in order', examples=[[['{python}', 'scripts/migrate.py']]])
    services: dict[str, ServiceRuntime] = Field(description='how each service of [services] runs here, by name', examples=[{'orders': {'url': 'http://127.0.0.1:8001'}}])
    stores: dict[str, Store] = Field(default={}, description='the databases of this environment, by name', examples=[{'shopdb': {'kind': 'sqlite', 'url': 'sqlite:///shop.db'}}])
    brokers: dict[str, Broker] = Field(default={}, description='the message brokers of this environment, by name', examples=[{"bus": {"kind": _FIRST_KIND, "url": "sqlite:///{workdir}/bus.db"}}])
    probe_timeout: float = Field(default=5.0, gt=0, description='seconds each environment probe may take', examples=[5.0])
    secrets: list[str] = Field(default=[], description=(
        "names of variables (in `vars`, a service's `env` or the process environment) whose values are secret: "
        "masked as *** in every artifact, log and console line, and sealing is refused if one is still in the bundle"), examples=[['SHOP_DB_PASSWORD']])


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
    headers: dict[str, str] = Field(default={}, description=(
        "headers set on every request the pact verifier sends to this provider, replacing the pact's own (Pact's custom "
        "provider headers, e.g. a fresh token); `{NAME}` takes a variable, and values taken from variables are secrets, "
        "masked in every artifact"), examples=[{"Authorization": "Bearer {PRODUCT_TOKEN}"}])


class MessageSource(Model):
    """How the provider really produces a message: trigger it, capture it from the broker."""

    trigger: Action = Field(description='the action that makes the provider publish the message', examples=[{'http': {'method': 'POST', 'url': '{url:orders}/orders', 'json': {'product_id': 1}}}])
    broker: str = Field(description="the environment's broker to capture the message from", examples=['bus'])
    topic: str = Field(description='the topic, stream, routing key or subject the message is published on', examples=['order.created'])
    timeout: float = Field(default=10.0, gt=0, description='seconds to wait for the message', examples=[10.0])


class PactUrlSource(Model):
    """A pact file fetched over HTTP(S), with an optional bearer token read from an environment variable."""

    url: str = Field(pattern=r"^https?://", description='http(s) URL of one pact file', examples=['https://pacts.example.com/pacts/web-orders.json'])
    token_env: str | None = Field(default=None, description='environment variable holding a bearer token for the URL', examples=['PACT_TOKEN'])


class ConsumerVersionSelector(Model):
    """One Pact Broker consumer version selector (keyword arguments of pact-python's `consumer_version`)."""

    consumer: str | None = Field(default=None, description="only this consumer's pacts", examples=['web'])
    tag: str | None = Field(default=None, description='consumer versions with this tag', examples=['prod'])
    fallback_tag: str | None = Field(default=None, description='the tag to use when no version has `tag`', examples=['main'])
    latest: bool | None = Field(default=None, description='only the latest version (of the tag or branch)', examples=[True])
    deployed_or_released: Literal[True] | None = Field(default=None, description='versions deployed or released in any environment', examples=[True])
    deployed: Literal[True] | None = Field(default=None, description='versions currently deployed', examples=[True])
    released: Literal[True] | None = Field(default=None, description='versions released', examples=[True])
    environment: str | None = Field(default=None, description='versions deployed or released in this environment', examples=['production'])
    main_branch: Literal[True] | None = Field(default=None, description="versions on each consumer's main branch", examples=[True])
    branch: str | None = Field(default=None, description='versions on this branch', examples=['main'])
    matching_branch: Literal[True] | None = Field(default=None, description="versions on the branch named like the provider's", examples=[True])
    fallback_branch: str | None = Field(default=None, description='the branch to use when no version is on `branch`', examples=['main'])


class PactBroker(Model):
    """Pacts for verification from a Pact Broker, with selectors, pending and work-in-progress pacts."""

    url: str = Field(pattern=r"^https?://", description="the Pact Broker's http(s) URL", examples=['https://broker.example.com'])
    token_env: str | None = Field(default=None, description="environment variable holding the broker's bearer token", examples=['PACT_BROKER_TOKEN'])
    providers: list[str] = Field(min_length=1, description='services whose pacts the broker is asked for', examples=[['orders']])
    consumer_version_selectors: list[ConsumerVersionSelector] = Field(default=[], description='which consumer versions to verify', examples=[[{'main_branch': True}, {'deployed_or_released': True}]])
    include_pending: bool = Field(default=False, description='also verify pending pacts (their failures do not fail the run)', examples=[True])
    include_wip_since: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$", description='also verify work-in-progress pacts published since this date, YYYY-MM-DD', examples=['2026-01-01'])
    provider_version: str | None = Field(default=None, description='the provider version results are recorded under', examples=['1.4.0'])
    provider_branch: str | None = Field(default=None, description="the provider's branch, for branch selectors and results", examples=['main'])
    provider_tags: list[str] = Field(default=[], description='tags of the provider version', examples=[['staging']])
    publish_results: bool = Field(default=False, description='publish verification results to the broker (needs provider_version)', examples=[False])

    @field_validator("include_wip_since", mode="before")
    @classmethod
    def _iso_date(cls, value: Any) -> Any:
        return value.isoformat() if hasattr(value, "isoformat") else value  # a TOML date, unquoted

    @model_validator(mode="after")
    def _publishable(self) -> PactBroker:
        if self.publish_results and not self.provider_version:
            raise ValueError("publish_results needs provider_version: the broker records results per provider version")
        return self


def _exclude_key(schema: dict[str, Any]) -> None:
    """`exclude` is read by `Contracts` (so it works without any pact source); the schema shows it where it is written."""
    schema["properties"]["exclude"] = {
        "type": "array", "items": {"type": "string"}, "default": [], "examples": [["contracts/legacy/*.json"]],
        "description": "globs of pact files, relative to the config's folder, that the architecture contracts may hold "
                       "without any source declaring them (a table with only `exclude` verifies no pacts)"}


class PactContracts(Model):
    model_config = ConfigDict(json_schema_extra=_exclude_key)

    sources: list[str | PactUrlSource] = Field(default=[], description='folders, pact files, http(s) URLs, or { url, token_env } tables', examples=[['contracts/pacts']])
    broker: PactBroker | None = Field(default=None, description='pacts from a Pact Broker', examples=[{'url': 'https://broker.example.com', 'providers': ['orders']}])
    states: dict[str, ProviderState] = Field(default={}, description=(
        "provider-state handlers by state name for every provider without its own handler of that state "
        "(in [contracts.pact.providers.NAME.states]) and without a `state_url`"),
        examples=[{"an order exists": {"setup": {"sql": "INSERT INTO orders (id) VALUES (1)", "store": "main"}}}])
    providers: dict[str, PactProvider] = Field(default={}, description="per-provider settings, by service name: the provider's own state handlers and request headers",
                                               examples=[{"users": {"states": {"a user exists": {"setup": {"command": ["python", "add_user.py"]}}}}}])
    messages: dict[str, MessageSource] = Field(default={}, description="how each message pact's message is really produced, by the message's description", examples=[{'an order created event': {'broker': 'bus', 'topic': 'order.created', 'trigger': {'command': ['{python}', 'scripts/order.py']}}}])
    request_timeout_ms: int = Field(default=5000, gt=0, description="the verifier's timeout per request, in milliseconds", examples=[5000])
    concurrency: int | None = Field(default=None, gt=0, description='verifier processes at once; default 4 per core, at most one per job', examples=[4])
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

    path: dict[str, str | int] = Field(default={}, description="values of the operation's path parameters", examples=[{'id': 1}])
    query: dict[str, str | int] = Field(default={}, description='query parameters', examples=[{'limit': 10}])
    headers: dict[str, str] = Field(default={}, description='request headers', examples=[{'X-Request-Id': 'test'}])
    body: Any = Field(default=None, description='the JSON request body', examples=[{'product_id': 1, 'quantity': 2}])
    status: int | None = Field(default=None, description='the status this request must get (default: any documented one)', examples=[201])
    setup: Action | None = Field(default=None, description='an action run before the request', examples=[{'sql': 'INSERT INTO orders (id) VALUES (1)', 'store': 'shopdb'}])


class OpenApiContracts(Model):
    """Every operation of every service's OpenAPI document, exercised and validated with openapi-core."""

    services: list[str] | None = Field(default=None, description='services whose OpenAPI documents are verified (default: every service with one)', examples=[['orders', 'catalog']])
    fixtures: dict[str, list[OperationFixture]] = Field(default={}, description="requests per operation id `service:METHOD /path`, when the document's examples are not enough", examples=[{'orders:GET /orders/{id}': [{'path': {'id': 1}}]}])
    schemathesis: list[str] = Field(default=[], description='services also fuzzed with schemathesis', examples=[['catalog']])
    request_timeout: float = Field(default=10.0, gt=0, description='seconds per request', examples=[10.0])


class ChannelSource(Model):
    """How the producer of an AsyncAPI channel is made to publish, and where to listen."""

    trigger: Action = Field(description='the action that makes the producer publish on the channel', examples=[{'command': ['{python}', 'scripts/order.py']}])
    broker: str = Field(description="the environment's broker to listen on", examples=['bus'])
    timeout: float = Field(default=10.0, gt=0, description='seconds to wait for a message', examples=[10.0])


class AsyncApiContracts(Model):
    channels: dict[str, ChannelSource] = Field(default={}, description="how each AsyncAPI channel's producer is made to publish, by channel name", examples=[{'order.created': {'broker': 'bus', 'trigger': {'command': ['{python}', 'scripts/order.py']}}}])


class SchemaContract(Model):
    """The tables a service expects in a shared store (a YAML/TOML/JSON table spec)."""

    service: str = Field(description='the service that expects the tables', examples=['orders'])
    store: str = Field(description='the store that must hold them', examples=['shopdb'])
    path: str = Field(description="the table spec (YAML, TOML or JSON), relative to the config's folder", examples=['contracts/schema/orders.yaml'])


class Contracts(Model):
    pact: PactContracts | None = Field(default=None, description='Pact verification of consumer-driven contracts', examples=[{'sources': ['contracts/pacts']}])
    openapi: OpenApiContracts | None = Field(default=None, description='every operation of every OpenAPI document, exercised and validated', examples=[{'request_timeout': 10.0}])
    asyncapi: AsyncApiContracts | None = Field(default=None, description='AsyncAPI channels, captured from the brokers and validated', examples=[{'channels': {}}])
    schema_: list[SchemaContract] = Field(default=[], alias="schema", description='tables a service expects in a shared store (written `[[contracts.schema]]`)', examples=[[{'service': 'orders', 'store': 'shopdb', 'path': 'contracts/schema/orders.yaml'}]])
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
    path: str = Field(description="the dataset's file, relative to the config's folder", examples=['data/products.csv'])
    store: str = Field(description='the store holding the loaded table', examples=['shopdb'])
    table: str = Field(description='the table the dataset is loaded into', examples=['products'])
    source: str = Field(description='where the data comes from, for the evidence', examples=['catalogue export from the ERP'])
    refresh: str = Field(pattern=r"^\d+[hdw]$", description='how often the data must be refreshed: a number and h, d or w', examples=['7d'])
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$", description='SHA-256 the file must have', examples=['9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'])
    checksum: bool = Field(default=False, description="compare a SHA-256 of the table's content in the store with the CSV file", examples=[True])

    @model_validator(mode="after")
    def _checksum_needs_csv(self) -> Dataset:
        if self.checksum and not self.path.lower().endswith(".csv"):
            raise ValueError("`checksum = true` needs a CSV file (its header names the columns to compare)")
        return self


class SuiteTest(Model):
    """What a test is about when its runner has no markers (runner "junit"): matched by a glob on its test id."""

    match: str = Field(description="a glob (`*`, `?`, `[...]`) on the test id `<file or classname>::<name>`", examples=['products.test.js::*'])
    interfaces: list[str] = Field(default=[], description="the interface ids the matching tests exercise, as the pytest marker `interfaces` names them", examples=[['products:GET /products']])
    critical: bool = Field(default=False, description="the matching tests are critical (a failure is a critical defect; one that does not run fails Gate 3)", examples=[True])


#: What a `[suite] rerun` template may name of the failing test (interlock.junitsuite fills them).
RERUN_FIELDS = ("name", "name_regex", "classname", "file", "id")


class Suite(Model):
    runner: Literal["pytest", "junit"] = Field(default="pytest", description=(
        '"pytest" runs the suite under pytest; "junit" runs `command`, any runner that writes JUnit XML (jest with jest-junit, '
        'gotestsum, Maven Surefire, dotnet test, pytest --junitxml), and reads `junit_xml`'), examples=['junit'])
    path: str = Field(default="tests", description="where the integration tests are, relative to the config's folder", examples=['tests'])
    marker: str = Field(default="integration", description='the pytest marker that selects integration tests', examples=['integration'])
    args: list[str] = Field(default=[], description='extra pytest arguments', examples=[['-p', 'no:randomly']])
    timeout: int = Field(default=300, gt=0, description='seconds the whole suite may take', examples=[300])
    maxfail: int | None = Field(default=None, description='stop the suite after this many failures', examples=[10])
    command: list[str] = Field(default=[], description=(
        'runner "junit": the command that runs the whole suite and writes JUnit XML (placeholders allowed); '
        '`interlock test -- ARGS` appends ARGS'), examples=[['npx', 'jest', '--ci']])
    cwd: str = Field(default=".", description='runner "junit": the folder the commands run in, relative to the config\'s folder', examples=['web'])
    junit_xml: str | None = Field(default=None, description=(
        'runner "junit": the JUnit XML file (or glob) the command writes, relative to `cwd`; removed before each run, '
        'and a run that leaves none, an empty one or one that does not parse did not run'), examples=['reports/junit.xml'])
    list_command: list[str] = Field(default=[], description=(
        'runner "junit": a command that lists the whole suite without running it, one item a line (blank lines ignored); '
        'a run with fewer is a filtered run'), examples=[['npx', 'jest', '--listTests']])
    list_unit: Literal["tests", "files"] = Field(default="tests", description=(
        'runner "junit": what `list_command` lists: "tests" (e.g. `go test -list .`) is compared with the XML\'s test cases, '
        '"files" (e.g. `jest --listTests`) with the distinct `file` attributes of the XML (jest-junit: addFileAttribute)'), examples=['files'])
    list_pattern: str | None = Field(default=None, description=(
        'runner "junit": a regular expression; only `list_command` lines it matches (search) count, e.g. `go test -list` '
        'also prints an `ok <package>` line per package'), examples=['^(Test|Example)'])
    rerun: list[str] = Field(default=[], description=(
        'runner "junit": the command that reruns one test in the runner\'s own filter syntax, with `{name}`, `{name_regex}`, '
        '`{classname}`, `{file}` or `{id}` of the test; default `command` (the whole suite, the test read from its XML)'),
        examples=[['npx', 'jest', '--ci', '-t', '{name_regex}']])
    filter_args: list[str] = Field(default=[], description=(
        'runner "junit": arguments that narrow the suite; a run given one (`interlock test -- -t foo`) is a filtered run'),
        examples=[['-t', '--testNamePattern', '--testPathPattern']])
    tests: list[SuiteTest] = Field(default=[], description=(
        'runner "junit": interfaces and criticality of tests by a glob on their id, for runners without markers; '
        'every matching entry applies'), examples=[[{'match': 'products.test.js::*', 'interfaces': ['products:GET /products'], 'critical': True}]])

    @model_validator(mode="after")
    def _runner(self) -> Suite:
        junit_only = [key for key in ("command", "junit_xml", "list_command", "list_pattern", "rerun", "filter_args", "tests") if getattr(self, key)]
        if self.runner == "pytest" and junit_only:
            raise ValueError(f"{', '.join(junit_only)} only apply with runner = \"junit\"; set runner = \"junit\" or remove them")
        if self.runner == "junit":
            missing = [key for key in ("command", "junit_xml") if not getattr(self, key)]
            if missing:
                raise ValueError(f"runner \"junit\" needs {' and '.join(missing)}: the command that runs the suite and the JUnit XML it writes")
            if self.list_pattern is not None:
                try:
                    re.compile(self.list_pattern)
                except re.error as exc:
                    raise ValueError(f"list_pattern {self.list_pattern!r} is not a regular expression ({exc})") from None
            unknown = sorted({m for word in self.rerun for m in re.findall(r"\{([a-z_]+)\}", word)} - set(RERUN_FIELDS) - {"root", "python", "workdir", "artifacts"})
            if unknown:
                raise ValueError(f"rerun names {', '.join('{' + u + '}' for u in unknown)}; a rerun template may use {', '.join('{' + f + '}' for f in RERUN_FIELDS)}")
        return self


class Signoff(Model):
    approver: str | None = Field(default=None, description='who signs off', examples=['Dana Reyes'])
    role: str = Field(default="Quality Orchestrator", description="the approver's role, written in the sign-off", examples=['Quality Orchestrator'])
    key: str | None = Field(default=None, description="the approver's Ed25519 private key (`interlock keygen`); keep it out of git", examples=['.interlock/keys/signoff.key'])
    pubkey: str | None = Field(default=None, description='the matching public key, used by `interlock verify`', examples=['.interlock/keys/signoff.pub'])
    scope: str = Field(default="integration validation for quality audit and staging deployment", description='what the sign-off approves', examples=['integration validation for quality audit and staging deployment'])
    allow_no_commit: bool = Field(default=False, description=(
        "sign evidence that names no git commit (the code under test is in no git work tree); without it such a sign-off "
        "is refused, with it `interlock verify` shows the approval as of \"no commit\""), examples=[True])


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


class Observability(Model):
    """The built-in OTLP/HTTP receiver: the services, the suite and the pact jobs send their spans to interlock itself."""

    receiver: bool = Field(default=True, description=(
        "run interlock's OTLP/HTTP receiver on 127.0.0.1 while the services run; false: no receiver, every service's traces are \"not instrumented\""),
        examples=[True])
    port: int | Literal["auto"] = Field(default="auto", description=(
        'the receiver\'s port on 127.0.0.1; "auto" takes a free one each time the services start (printed, and written in the test plan); '
        "fix one when services interlock does not start must be pointed at it"), examples=["auto", 4318])
    forward: str | None = Field(default=None, pattern=r"^https?://", description=(
        "an OpenTelemetry Collector's OTLP/HTTP base URL: everything accepted is POSTed there unchanged (/v1/traces, /v1/metrics, /v1/logs); "
        "failures are counted, never stop the run"), examples=["http://127.0.0.1:4318"])
    max_payload_bytes: int = Field(default=4194304, gt=0, description="the largest request body accepted (also after gzip); larger ones get HTTP 413", examples=[4194304])
    max_spans: int = Field(default=200000, gt=0, description=(
        "spans kept in all; each declared service (and the tests) keeps its share free, so a flood from one drops its own spans, counted, not the others'"),
        examples=[200000])
    batch_delay_ms: int = Field(default=200, gt=0, description="OTEL_BSP_SCHEDULE_DELAY given to every started service: how soon its spans arrive", examples=[200])
    undeclared: Literal["report", "fail"] = Field(default="report", description=(
        '"report": a dependency seen in traces that no contract or test declares is a warning of Gate 2; "fail": it blocks Gate 2'),
        examples=["fail"])

    @model_validator(mode="after")
    def _no_loop(self) -> Observability:
        if self.forward and isinstance(self.port, int) and is_local(self.forward) and port_of(self.forward) == self.port:
            raise ValueError(f"`forward` {self.forward} is the receiver itself (port {self.port}): everything would be forwarded to itself forever; "
                             "name the collector's port")
        return self


class HistoryStore(Model):
    """Where run history lives: SQLite under .interlock/ by default, or a shared database by URL."""

    url: str | None = Field(default=None, description='a database URL for shared run history; default SQLite under .interlock/', examples=['postgresql://interlock@db.example.com/interlock'])


class Config(Model):
    project: Project = Field(description='what the system is', examples=[{'name': 'shop', 'version': '1.4.0'}])
    prerequisites: Prerequisites = Field(description='the inputs of protocols 3, 6 and 7, pinned by version or SHA-256', examples=[{'feature_list': {'path': 'docs/features.json', 'version': '1.0.0'}}])
    services: dict[str, Service] = Field(description="the system's services, by name", examples=[{'orders': {'owner': 'team-orders', 'openapi': 'contracts/openapi/orders.yaml'}}])
    environments: dict[str, Environment] = Field(description='where the services run, by environment name', examples=[{'integration': {'services': {'orders': {'url': 'http://127.0.0.1:8001'}}}}])
    contracts: Contracts = Field(default=Contracts(), description='the contracts verified in phase 2', examples=[{'pact': {'sources': ['contracts/pacts']}}])
    datasets: dict[str, Dataset] = Field(default={}, description='test data loaded into stores, checked for freshness', examples=[{'products': {'path': 'data/products.csv', 'store': 'shopdb', 'table': 'products', 'source': 'ERP export', 'refresh': '7d'}}])
    suite: Suite = Field(default=Suite(), description='the integration test suite run in phase 3', examples=[{'path': 'tests', 'marker': 'integration'}])
    owners: dict[str, str] = Field(default={}, description='the owning team of each area that is not a service (e.g. a store), by name', examples=[{'shopdb': 'team-data'}])
    scope: Scope = Field(default=Scope(), description="what the scope matrix leaves out on purpose", examples=[{"out_of_scope": ["GET /admin/stats"]}])
    gates: Gates = Field(default=Gates(), description='the gate policy: how uncovered interfaces count, and condition overrides', examples=[{'uncovered_interfaces': 'fail'}])
    waivers: list[Waiver] = Field(default=[], description='approved exceptions to gate conditions', examples=[[{'condition': 'contracts.failed', 'item': 'web->orders: get order', 'justification': 'known bug', 'approver': 'Dana Reyes', 'ticket': 'SHOP-12', 'expires': '2027-01-31T00:00:00Z'}]])
    signoff: Signoff = Field(default=Signoff(), description='who signs the evidence bundle, and with which key', examples=[{'approver': 'Dana Reyes', 'key': '.interlock/keys/signoff.key'}])
    store: HistoryStore = Field(default=HistoryStore(), description='where run history lives', examples=[{'url': 'sqlite:///.interlock/history.db'}])
    observability: Observability = Field(default=Observability(), description="the built-in OTLP receiver: port, bounds, forwarding to a collector",
                                         examples=[{'port': 'auto', 'forward': 'http://127.0.0.1:4318'}])

    def service_of(self, name: str) -> str | None:
        """The service a pact calls `name`: the service of that name, else the one listing it in `pact_names` (None: no service)."""
        if name in self.services:
            return name
        return next((s for s, service in self.services.items() if name in service.pact_names), None)


class Loaded(BaseModel):
    """A config together with where it came from."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    config: Config
    path: Path
    root: Path

    def resolve(self, relative: str) -> Path:
        """A path from the config, relative to the system's root."""
        return (self.root / relative).resolve()

    @property
    def repository(self) -> Path:
        """Where the code under test is checked out: `[project] repository`, else the config's folder."""
        named = self.config.project.repository
        return self.resolve(named) if named else self.root

    def identity(self, artifacts: Path | None = None) -> Identity:
        """The code under test now (see `interlock.identity`): the repository's, this config's own files left out."""
        return current(self.repository, artifacts, system=self.root)

    def commit_key(self, artifacts: Path | None = None) -> str | None:
        """The commit the history store keeps a run under (see `identity.commit_key`)."""
        return commit_key(self.repository, artifacts, system=self.root)

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

    claimed: dict[str, str] = {}
    for svc_name, service in config.services.items():
        for index, alias in enumerate(service.pact_names):
            owner = claimed.setdefault(alias, svc_name)
            if alias in config.services and alias != svc_name or owner != svc_name:
                add(("services", svc_name, "pact_names", index), f"{alias!r} already names service {owner if owner != svc_name else alias!r}; "
                                                                  "a pact name must lead to one service")
    for provider in (config.contracts.pact.providers if config.contracts.pact else {}):
        if provider not in config.services:
            add(("contracts", "pact", "providers", provider), f"provider {provider!r} is not a service of [services]; fix the name or declare the service")
    for loc, text in _strings(config.contracts.model_dump(by_alias=True, exclude_none=True), ("contracts",)):
        for kind, name in PLACEHOLDER.findall(text):
            if name not in config.services:
                add(loc, f"{{{kind}:{name}}}: {name!r} is not a declared service; fix the name")
    for svc_name, service in config.services.items():
        for loc, text in _strings(service.model_dump(include={"version_command", "version_url"}, exclude_none=True), ("services", svc_name)):
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

    for loc, problem in policy_problems(config.gates, config.waivers, config.observability.undeclared):
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
    for provider, settings in (pact.providers.items() if pact else []):
        for name, state in settings.states.items():
            for phase in ("setup", "teardown"):
                collect(("contracts", "pact", "providers", provider, "states", name, phase), getattr(state, phase))
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
    loaded = Loaded(config=config, path=path.resolve(), root=path.resolve().parent)
    _check_repository(loaded, text)
    return loaded


def _check_repository(loaded: Loaded, text: str) -> None:
    """A named repository under test must be a git work tree: evidence never claims code it cannot identify."""
    named = loaded.config.project.repository
    if named is None:
        return
    folder, reason = loaded.repository, ""
    if not folder.is_dir():
        reason = "does not exist" if not folder.exists() else "is not a folder"
    elif top_level(folder) is None:
        reason = "is not in a git work tree (or git is not installed)"
    if reason:
        lines = key_lines(text)
        line = lines.get(("project", "repository")) or lines.get(("tool", "interlock", "project", "repository"))
        raise ConfigError([Problem(str(loaded.path), f"repository {named!r} ({folder}) {reason}; name the folder of the system's git "
                                   "checkout, relative to the config's folder", line, "project.repository")])


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
