"""One channel on the live broker: subscribe at its address first, trigger the producer, capture, and judge what came."""

from __future__ import annotations

import time
from typing import Any

from referencing.exceptions import Unresolvable

from interlock.brokers import capture_messages
from interlock.brokers.base import CaptureFailed, NoMessage
from interlock.contracts.actions import ActionFailed, perform
from interlock.contracts.asyncapi.compare import MAX_MISMATCHES, check_captured
from interlock.contracts.asyncapi.document import AsyncApiDocument, Channel
from interlock.context import RunContext
from interlock.statuses import ContractStatus

SETTLE_SECONDS = 0.25
"""After the first message, how long more messages of the same burst are collected (all are validated)."""


class TriggerFailed(ActionFailed):
    """The configured trigger did not succeed (the broker was fine)."""


def configured_trigger(ctx: RunContext, document: AsyncApiDocument, channel: Channel) -> Any:
    """The configured trigger of a channel: keyed by its id, or by its address when no other channel of the document has it."""
    channels = ctx.config.contracts.asyncapi.channels
    if channel.id in channels:
        return channels[channel.id]
    if channel.address is not None and channel.address not in document.shared_addresses:
        return channels.get(channel.address)
    return None


def interface_id(service: str, channel: Channel) -> str:
    """The scope matrix's id of a channel: `<service>:publish <channel id>`."""
    return f"{service}:publish {channel.id}"


def verify_channel(ctx: RunContext, service: str, document: AsyncApiDocument, channel: Channel) -> dict[str, Any]:
    """Subscribe on the channel's address, trigger, capture, validate: the verdict of one channel.

    On an address other channels share, a captured message that matches one of theirs (and none of this
    channel's) is theirs: it is left out, neither a pass nor a mismatch."""
    names = ("message " + " | ".join(m.name for m in channel.messages)) if channel.messages else "no message schema"
    operation = f"{channel.operation} operation" if channel.operation != "-" else "no operation"
    not_validated = [part for m in channel.messages for part in m.not_validated()]
    unchecked = "; not validated: " + ", ".join(f"{p['message']} {p['section']} ({p['schema_format']})" for p in not_validated) if not_validated else ""
    item: dict[str, Any] = {
        "id": interface_id(service, channel), "description": f"{service} publishes on {channel.label}: {names} ({operation}){unchecked}",
        "provider_states": [], "status": ContractStatus.PASS, "duration_ms": 0.0, "mismatches": [],
    }
    if not_validated:
        item["not_validated"] = not_validated

    def verdict(status: str, kind: str, message: str, path: str | None = None) -> dict[str, Any]:
        item.update(status=status, mismatches=[{"type": kind, "path": path, "message": message}])
        return item

    source = configured_trigger(ctx, document, channel)
    if source is None:
        return verdict("not_executed", "Unexercised", "no trigger configured: unexercised")
    if channel.address is None:
        return verdict("error", "NoAddress", f"channel {channel.id} has no address (null: unknown until run time), so interlock cannot subscribe to it; give the channel its address")
    broker = ctx.env.brokers[source.broker].model_dump()
    action = ctx.spec.expand_all(source.trigger.model_dump(by_alias=True, exclude_none=True))
    stores = ctx.stores()
    env, cwd = ctx.base_env(), str(ctx.loaded.root)
    siblings = document.on_address(channel)

    def trigger() -> None:
        try:
            perform(action, stores, env=env, cwd=cwd)
        except ActionFailed as exc:
            raise TriggerFailed(str(exc)) from None

    start = time.perf_counter()
    try:
        captured = capture_messages(broker, channel.address, trigger, source.timeout, settle=SETTLE_SECONDS)
        found, mine = [], 0
        for index, message in enumerate(captured, 1):
            mismatches = check_captured(document, channel, message)
            if not mismatches:
                mine += 1
                continue
            if any(s.messages and not check_captured(document, s, message) for s in siblings):
                continue  # a message of another channel on this address
            for mismatch in mismatches:
                if len(captured) > 1:
                    mismatch = {**mismatch, "message": f"message {index} of {len(captured)}: {mismatch['message']}"}
                found.append(mismatch)
        item.update(status=ContractStatus.FAIL if found else ContractStatus.PASS, mismatches=found[:MAX_MISMATCHES])
        if not found and not mine:
            others = ", ".join(s.id for s in siblings)
            verdict("fail", "NoMessage", f"only messages of {others} on address {channel.address} within {source.timeout:g}s, none of {channel.id}")
    except NoMessage:
        verdict("fail", "NoMessage", f"no message on {channel.label} within {source.timeout:g}s")
    except TriggerFailed as exc:
        verdict("error", "TriggerFailed", f"trigger failed: {exc}")
    except (CaptureFailed, ActionFailed) as exc:
        verdict("error", "BrokerError", f"broker {source.broker!r} ({broker['kind']}): {exc}")
    except Unresolvable as exc:
        verdict("error", "SchemaError", f"a $ref of the schema cannot be resolved: {exc}")
    except Exception as exc:  # noqa: BLE001 - one channel's surprise must not hide the others' verdicts
        verdict("error", "InternalError", f"{type(exc).__name__}: {exc}")
    item["duration_ms"] = round((time.perf_counter() - start) * 1000, 3)
    return item
