"""The contract records of pact verification: per pact file (per consumer for broker pacts), per interaction, read from the verifier's results (pure)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from interlock.documents import PactFile
from interlock.paths import shown
from interlock.probes import redact_url
from interlock.statuses import ContractStatus


def source_record(source: str, reason: str) -> dict[str, Any]:
    """The record of a source that could not be read or fetched: not executed, never a pass."""
    return {
        "id": f"pact:{source}", "kind": "pact", "consumer": "-", "provider": "-", "source": source, "specification": None,
        "status": ContractStatus.NOT_EXECUTED, "duration_ms": 0.0, "reason": reason, "interactions": [],
    }


def _mismatches(entry: dict[str, Any]) -> list[dict[str, Any]]:
    mismatch = entry.get("mismatch") or {}
    if mismatch.get("type") == "error":
        return [{"type": "error", "path": None, "message": str(mismatch.get("message", "verification error"))}]
    return [
        {"type": m.get("type", "Mismatch"), "path": m.get("path"), "expected": m.get("expected"), "actual": m.get("actual"), "message": str(m.get("mismatch") or m.get("type"))}
        for m in mismatch.get("mismatches", [])
    ]


def _duration_ms(text: Any) -> float:
    value = str(text or "0")
    for suffix, factor in (("ms", 1.0), ("s", 1000.0)):
        if value.endswith(suffix):
            try:
                return float(value[: -len(suffix)]) * factor
            except ValueError:
                return 0.0
    return 0.0


def _verdict(entry: dict[str, Any] | None, failed_states: list[str], error: str | None) -> tuple[str, list[dict[str, Any]]]:
    """One interaction's status and mismatches from its entry in `interactionResults` (None: never reported)."""
    if entry is None:
        return ContractStatus.NOT_EXECUTED, [{"type": "error", "path": None, "message": error or "the verifier did not report this interaction"}]
    found = _mismatches(entry)
    if entry.get("pending"):
        # Pending pacts (the Broker's meaning) are their own outcome: never a pass, never a failure.
        status = ContractStatus.PENDING
        if entry.get("result") == "OK" and not failed_states:
            found = [{"type": "pending", "path": None, "message": "pending pact: verified, but pending pacts are not counted as passes"}]
    elif entry.get("result") == "OK" and not failed_states:
        status = ContractStatus.PASS
    else:
        status = ContractStatus.ERROR if found and found[0]["type"] == "error" and not failed_states else ContractStatus.FAIL
    return status, [{"type": "provider-state", "path": None, "message": m} for m in failed_states] + found


def _captured(status: str, found: list[dict[str, Any]], failure: dict[str, str] | None) -> tuple[str, list[dict[str, Any]]]:
    """A message interaction whose message could not be captured: the capture's reason replaces the verifier's mismatch."""
    if failure is None or status == ContractStatus.PASS:
        return status, found
    states = [m for m in found if m["type"] == "provider-state"]
    return (ContractStatus.FAIL if states else failure["status"]), [*states, {"type": failure["type"], "path": None, "message": failure["message"]}]


def _trace(outcome: Mapping[str, Any]) -> dict[str, Any]:
    """An interaction's `trace_id`: its job's, when a job ran it (null: no OTLP receiver ran, so no traceparent was sent)."""
    return {"trace_id": outcome["trace_id"]} if "job" in outcome else {}


def _job(outcome: Mapping[str, Any]) -> dict[str, Any]:
    """A record's verifier `job` and its `trace_id`, when a job ran it."""
    return {"job": outcome["job"], "trace_id": outcome["trace_id"]} if "job" in outcome else {}


def _overall(interactions: list[dict[str, Any]]) -> str:
    statuses = {i["status"] for i in interactions}
    return ContractStatus.NOT_EXECUTED if not interactions or statuses == {ContractStatus.NOT_EXECUTED} else ContractStatus.PASS if statuses <= {ContractStatus.PASS} else ContractStatus.FAIL


def contract_records(pacts: list[PactFile], outcomes: Mapping[Any, dict[str, Any]], root: Path, origins: Mapping[Path, str] | None = None,
                     selection: Mapping[Path, frozenset[str]] | None = None) -> list[dict[str, Any]]:
    """Per pact file, per interaction: the verdict read from the verifier's results (pure).

    `outcomes` holds each pact's worker outcome by its path (or by (provider, kind)); `selection` keeps
    only the named interactions of a filtered run.
    """
    records = []
    for item in pacts:
        outcome = outcomes.get(item.path) or outcomes.get((item.provider, item.kind)) or {}
        reported = {(r.get("consumer"), r.get("description")): r for r in outcome.get("results", {}).get("interactionResults", [])}
        state_failures = outcome.get("state_failures", {})
        interactions: list[dict[str, Any]] = []
        for interaction in item.interactions:
            if selection is not None and interaction.description not in selection.get(item.path, ()):
                continue
            entry = reported.get((item.consumer, interaction.description))
            failed_states = [state_failures[s] for s in interaction.states if s in state_failures]
            status, found = _captured(*_verdict(entry, failed_states, outcome.get("error")), outcome.get("message_failures", {}).get(interaction.description))
            interactions.append({
                "id": item.interaction_id(interaction.description), "description": interaction.description,
                "provider_states": list(interaction.states), "status": status,
                "duration_ms": _duration_ms(entry.get("duration")) if entry else 0.0, "mismatches": found, **_trace(outcome),
            })
        if (origins or {}).get(item.path):
            source = origins[item.path]  # type: ignore[index]
        else:
            source = shown(item.path, root)
        records.append({
            "id": f"pact:{item.consumer}->{item.provider}", "kind": f"pact-{item.kind}", "consumer": item.consumer, "provider": item.provider,
            "source": source, "specification": item.specification, "status": _overall(interactions),
            "duration_ms": round(sum(i["duration_ms"] for i in interactions), 3),
            "reason": None if interactions else "the pact has no interactions: nothing was verified", "interactions": interactions,
            **_job(outcome),
        })
    return records


def broker_records(provider: str, outcome: dict[str, Any], broker_url: str) -> list[dict[str, Any]]:
    """Records of a broker job: one per consumer the verifier reported, each interaction with its verdict (pure).

    Pacts from a broker are not known before the verifier fetches them, so what it reports is what was
    verified; a broker job that reported nothing is one not-executed record.
    """
    results = outcome.get("results", {}) or {}
    by_consumer: dict[str, list[dict[str, Any]]] = {}
    for entry in results.get("interactionResults", []):
        by_consumer.setdefault(str(entry.get("consumer") or "-"), []).append(entry)
    source = f"broker {redact_url(broker_url)}"
    state_failures = outcome.get("state_failures", {})
    if not by_consumer:
        reason = outcome.get("error") or f"the broker returned no pacts for provider {provider!r}: nothing was verified"
        return [{**source_record(source, reason), "id": f"pact:broker->{provider}", "provider": provider}]
    records = []
    for consumer, entries in sorted(by_consumer.items()):
        interactions: list[dict[str, Any]] = []
        for entry in entries:
            states = [str(s) for s in entry.get("providerStates") or []]
            status, found = _verdict(entry, [state_failures[s] for s in states if s in state_failures], outcome.get("error"))
            status, found = _captured(status, found, outcome.get("message_failures", {}).get(str(entry.get("description"))))
            interactions.append({
                "id": f"{consumer}->{provider}: {entry.get('description')}", "description": str(entry.get("description")),
                "provider_states": states, "status": status, "duration_ms": _duration_ms(entry.get("duration")), "mismatches": found,
                **_trace(outcome),
            })
        records.append({
            "id": f"pact:{consumer}->{provider}", "kind": "pact", "consumer": consumer, "provider": provider, "source": source,
            "specification": None, "status": _overall(interactions), "duration_ms": round(sum(i["duration_ms"] for i in interactions), 3),
            "reason": None, "interactions": interactions, **_job(outcome),
        })
    return records


def states_log(jobs: list[dict[str, Any]], outcomes: Mapping[str, dict[str, Any]]) -> str:
    """The text of `logs/states.log`: every provider-state action of every job, in the order each job made them (pure).

    One header line per action (time, provider, consumer, state, setup/teardown, which handler, step n of m,
    the state's params, ok or FAILED), then what it printed or answered, indented.
    """
    lines: list[str] = []
    for job in sorted(jobs, key=lambda j: str(j["id"])):
        entries = outcomes.get(job["id"], {}).get("state_log") or []
        if not entries:
            continue
        lines.append(f"== job {job['id']} (provider {job['provider']})")
        for entry in entries:
            lines.append(f"{entry['time']} provider={entry['provider']} consumer={entry.get('consumer') or '-'} state={entry['state']!r} "
                         f"action={entry['action']} handler={entry['handler']} step={entry['step']}/{entry['of']} "
                         f"params={json.dumps(entry.get('params') or {}, sort_keys=True)} {'ok' if entry['ok'] else 'FAILED'}")
            lines.extend("    " + line for line in str(entry.get("output") or "").splitlines())
    return "\n".join(lines) + "\n" if lines else ""
