"""The AsyncAPI contract kind: the documents and channel triggers of the config, what the config artifact records, and the verification."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from interlock.config import Config, key_lines
from interlock.contracts.asyncapi.capture_run import SETTLE_SECONDS, configured_trigger, interface_id, verify_channel
from interlock.contracts.asyncapi.document import FORMAT_CHECKER, AsyncApiDocument
from interlock.contracts.asyncapi.loader import load_asyncapi
from interlock.contracts.asyncapi.records import no_document_record, record
from interlock.errors import ConfigError, Problem
from interlock.events import Notice, Progress
from interlock.probes import redact_url
from interlock.context import RunContext


def documents(ctx: RunContext) -> list[tuple[str, str, AsyncApiDocument]]:
    """(service, document path as configured, parsed document) for each service with an `asyncapi`."""
    found = []
    for name, service in ctx.config.services.items():
        if service.asyncapi:
            found.append((name, service.asyncapi, load_asyncapi(ctx.loaded.resolve(service.asyncapi))))
    return found


def _check_config(ctx: RunContext, docs: list[tuple[str, str, AsyncApiDocument]]) -> None:
    """Every configured channel is a channel id of a document (or the address of exactly one channel) and names a broker of this environment."""
    asyncapi = ctx.config.contracts.asyncapi
    try:
        lines = key_lines(ctx.loaded.path.read_text("utf-8"))
    except OSError:
        lines = {}
    problems = []
    for name, source in asyncapi.channels.items():
        loc = ("contracts", "asyncapi", "channels", name)
        ids = [c for _, _, d in docs for c in d.channels if c.id == name]
        shared = [(d, c) for _, _, d in docs for c in d.channels if c.address == name and name in d.shared_addresses]
        if not ids and shared:
            which = ", ".join(sorted(c.id for _, c in shared))
            problems.append(Problem(str(ctx.loaded.path), f"address {name!r} is shared by channels {which}; name the channel by its id, e.g. "
                                                          f"[contracts.asyncapi.channels.{shared[0][1].id}]", lines.get(loc), ".".join(loc)))
        elif not ids and not any(c.address == name for _, _, d in docs for c in d.channels):
            known = ", ".join(sorted(c.label for _, _, d in docs for c in d.channels)) or "none"
            problems.append(Problem(str(ctx.loaded.path), f"no AsyncAPI document of [services] declares channel {name!r}; declared: {known}", lines.get(loc), ".".join(loc)))
        if source.broker not in ctx.env.brokers:
            at = (*loc, "broker")
            problems.append(Problem(str(ctx.loaded.path), f"broker {source.broker!r} is not defined in environment {ctx.env_name!r}", lines.get(at, lines.get(loc)), ".".join(at)))
    if problems:
        raise ConfigError(problems)


def _trigger_text(ctx: RunContext, action: Any) -> str:
    if action.http is not None:
        return f"HTTP {action.http.method} {redact_url(ctx.spec.expand(action.http.url))}"
    if action.command is not None:
        return "command " + " ".join(ctx.spec.expand(a) for a in action.command)
    return f"SQL on store {action.store}"


def settings(ctx: RunContext) -> dict[str, Any] | None:
    """What contract-validation-config.json records of the AsyncAPI checks."""
    asyncapi = ctx.config.contracts.asyncapi
    if asyncapi is None:
        return None
    docs = documents(ctx)
    _check_config(ctx, docs)
    channels = {}
    for name, source in asyncapi.channels.items():
        broker = ctx.env.brokers[source.broker]
        channels[name] = {
            "broker": source.broker, "broker_kind": broker.kind, "broker_url": redact_url(broker.url),
            "exchange": broker.exchange, "timeout": source.timeout, "trigger": _trigger_text(ctx, source.trigger),
        }
    return {
        "validator": "jsonschema (AsyncAPI Schema Object as JSON Schema draft-07; JSON Schema schemaFormats by their draft) with referencing for $refs",
        "format_checks": sorted(FORMAT_CHECKER.checkers),
        "capture": "subscribe on the broker first, then trigger the producer, then capture within the channel's timeout",
        "settle_seconds": SETTLE_SECONDS,
        "documents": [
            {"service": service, "path": source, "asyncapi": doc.version, "channels": [c.id for c in doc.channels],
             "addresses": {c.id: c.address for c in doc.channels},
             "not_validated": [{"channel": c.id, **part} for c in doc.channels for m in c.messages for part in m.not_validated()]}
            for service, source, doc in docs
        ],
        "channels": channels,
        "unexercised": sorted(interface_id(service, c) for service, _, doc in docs for c in doc.channels if configured_trigger(ctx, doc, c) is None),
    }


def verify(ctx: RunContext) -> list[dict[str, Any]]:
    """One record per AsyncAPI document; channels one after another (captures on one topic must not overlap)."""
    if ctx.config.contracts.asyncapi is None:
        return []
    docs = documents(ctx)
    _check_config(ctx, docs)
    if not docs:
        return [no_document_record()]
    total = sum(len(d.channels) for _, _, d in docs)
    done = 0
    ctx.emit(Progress("2.2", 0, total, "asyncapi channels verified"))
    records = []
    for service, source, document in docs:
        items = []
        for channel in document.channels:
            ctx.emit(Notice("2.2", f"asyncapi {service}: capturing channel {channel.label}"))
            for part in (p for m in channel.messages for p in m.not_validated()):
                ctx.emit(Notice("2.2", f"asyncapi {service}: {channel.id} message {part['message']} {part['section']} is {part['schema_format']}: recorded as not validated"))
            items.append(verify_channel(ctx, service, document, channel))
            done += 1
            ctx.emit(Progress("2.2", done, total, "asyncapi channels verified"))
        records.append(record(service, source, document, items))
    return records


class AsyncApiKind:
    """AsyncAPI as a contract kind (`interlock.contracts.kinds`): every channel is captured, so `--only` cuts its records after."""

    name = "asyncapi"
    prefixes = ("asyncapi:",)

    def declared(self, config: Config) -> bool:
        return config.contracts.asyncapi is not None

    def prepare(self, ctx: RunContext, only: Sequence[str]) -> None:
        return None

    def settings(self, ctx: RunContext, prepared: None) -> dict[str, Any] | None:
        return settings(ctx)

    def verify(self, ctx: RunContext, prepared: None) -> list[dict[str, Any]]:
        return verify(ctx)

    def interfaces(self, ctx: RunContext, interfaces: dict[str, dict[str, Any]]) -> None:
        """The message interface of every configured channel: by its id, or by an address only one channel of its service has."""
        assert ctx.config.contracts.asyncapi is not None
        for channel in ctx.config.contracts.asyncapi.channels:
            messages = [i for i in interfaces.values() if i["kind"] == "message" and i["source"] == ctx.config.services[i["service"]].asyncapi]
            by_id = [i for i in messages if i["operation"] == f"publish {channel}"]
            by_address = [i for i in messages if i.get("address") == channel]  # a key naming an address is used only where one channel has it
            for interface in by_id or [i for i in by_address if sum(j["service"] == i["service"] for j in by_address) == 1]:
                interface["checks"].append({"kind": "asyncapi", "ref": f"asyncapi {interface['service']} {channel}"})


KIND = AsyncApiKind()
