"""Who approved a verified bundle, and on what: the facts `interlock verify` names beside its verdict.

A valid signature says the bundle is intact; an auditor also needs to know
whose key made it, who approved, which commit (clean or dirty) was certified,
and which relaxed policies and waivers the approval rests on, since an expired
waiver is an approval that no longer holds. Predicates made before
`policy_relaxed`, `git_dirty` or the waivers' `condition`/`item` shape existed
are read too: a missing fact is said to be missing, never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from interlock.evidence.verify import VerifyReport


@dataclass(frozen=True)
class Exemption:
    """One relaxed policy or waiver in the signed predicate, and whether it has expired since."""

    condition: str
    item: str | None
    detail: str  # the change made to the policy, or the waiver's justification
    approver: str
    ticket: str
    expires: str
    expired: bool


@dataclass(frozen=True)
class Approval:
    """The signer, the approver and what the approval certified and rests on."""

    key_id: str | None
    key_file: str | None
    approver: str | None
    signed_at: str | None
    commit: str | None
    commit_recorded: bool
    dirty: bool | None  # None: the predicate does not record it
    no_commit_allowed: bool = False  # signed as of no commit, by the config's explicit choice ([signoff] allow_no_commit)
    policy_relaxed: list[Exemption] = field(default_factory=list)
    waivers: list[Exemption] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def approval(report: VerifyReport, now: datetime) -> Approval | None:
    """The approval a verified sign-off carries, or None when no signature verified."""
    statement = report.statement
    predicate = statement.get("predicate") if statement is not None else None
    if not isinstance(predicate, Mapping):
        return None
    dirty = predicate.get("git_dirty")
    return Approval(
        key_id=report.key_id,
        key_file=report.key_file,
        approver=_text(predicate.get("approver")),
        signed_at=_text(predicate.get("signed_at")),
        commit=_text(predicate.get("git_commit")),
        commit_recorded="git_commit" in predicate,
        dirty=dirty if isinstance(dirty, bool) else None,
        no_commit_allowed=predicate.get("no_commit_allowed") is True,
        policy_relaxed=[_exemption(r, "change", now) for r in _objects(predicate.get("policy_relaxed"))],
        waivers=[_exemption(w, "justification", now) for w in _objects(predicate.get("waivers"))],
    )


def describe(bundle: str, found: Approval) -> list[str]:
    """The console lines of a passed verification: the OK line naming who, then each relaxation and waiver."""
    if not found.commit_recorded:
        commit = "commit not recorded"
    else:
        commit = f"commit {found.commit}" + {True: " (dirty)", False: " (clean)", None: " (dirty flag not recorded)"}[found.dirty] \
            if found.commit else "no commit" + (" (signed with [signoff] allow_no_commit)" if found.no_commit_allowed else "")
    lines = [f"OK: {bundle} is intact and validly signed by key {found.key_id} ({found.key_file}); "
             f"approved by {found.approver} at {found.signed_at}; {commit}"]
    for relaxed in found.policy_relaxed:
        lines.append(f"policy relaxed: {relaxed.condition}: {relaxed.detail} {_approved(relaxed)}")
    for waiver in found.waivers:
        target = waiver.condition + (f" {waiver.item}" if waiver.item else "")
        lines.append(f"waiver: {target}: {waiver.detail} {_approved(waiver)}")
    return lines


def _approved(exemption: Exemption) -> str:
    text = f"(approved by {exemption.approver}, expires {exemption.expires}"
    text += f", ticket {exemption.ticket})" if exemption.ticket else ")"
    return text + (" EXPIRED" if exemption.expired else "")


def _objects(value: object) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _exemption(record: Mapping[str, Any], detail: str, now: datetime) -> Exemption:
    """Either shape: {condition, item, ...} or the older {target, ...} (a condition id or a defect id)."""
    condition = _text(record.get("condition")) or _text(record.get("target")) or "?"
    expires = _text(record.get("expires")) or ""
    return Exemption(condition=condition, item=_text(record.get("item")), detail=_text(record.get(detail)) or "",
                     approver=_text(record.get("approver")) or "", ticket=_text(record.get("ticket")) or "",
                     expires=expires, expired=_expired(expires, now))


def _expired(expires: str, now: datetime) -> bool:
    """An expiry that has passed, or that cannot be read as a UTC time, no longer holds."""
    try:
        moment = datetime.fromisoformat(expires)
    except ValueError:
        return True
    return moment.tzinfo is None or moment <= now
