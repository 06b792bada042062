"""The gate policy of `interlock.toml`: approvals, condition overrides, waivers, and the strict base every config model shares.

Its own module so that `gates`, which evaluates the policy, reads these models
without importing the whole config, and `config` can ask `gates` whether a
policy is allowed (`config check`) without a cycle between the two.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator


class Model(BaseModel):
    """Base: unknown keys are errors (a typo must never be silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _utc(value: datetime | None) -> datetime | None:
    """An expiry must say it is UTC: a local time would expire at a different moment on every machine."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("give the expiry in UTC, e.g. 2027-01-31T00:00:00Z")
    return value.astimezone(timezone.utc)


def _not_blank(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("must not be empty: an approval names who approved it and why")
    return value


class _Approved(Model):
    """The checks every approval makes, wherever it is given: an expiry in UTC, and no blank name, reason or ticket."""

    @field_validator("expires", check_fields=False)
    @classmethod
    def _expires_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value)

    @field_validator("justification", "approver", "ticket", check_fields=False)
    @classmethod
    def _filled(cls, value: str | None) -> str | None:
        return _not_blank(value)


class Approval(_Approved):
    """Who approved an exception to the default policy, why, under which ticket, and until when (UTC)."""

    justification: str
    approver: str
    ticket: str
    expires: datetime


class ConditionOverride(_Approved):
    """A change to one gate condition's default; a relaxation carries an approval like a waiver's."""

    threshold: float | None = None
    operator: Literal["==", "!=", ">", ">=", "<", "<="] | None = None
    blocking: bool | None = None
    justification: str | None = None
    approver: str | None = None
    ticket: str | None = None
    expires: datetime | None = None

    def approval(self) -> Approval | None:
        """The approval given with this override, or None if any part of it is missing."""
        justification, approver, ticket, expires = self.justification, self.approver, self.ticket, self.expires
        if justification is None or approver is None or ticket is None or expires is None:
            return None
        return Approval(justification=justification, approver=approver, ticket=ticket, expires=expires)


class Gates(Model):
    uncovered_interfaces: Literal["fail", "warn"] = "fail"
    conditions: dict[str, ConditionOverride] = {}


class Waiver(Approval):
    """An approved exception to one gate condition, or to one item it counts (a defect id, an interaction id, a check id)."""

    condition: str
    item: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_target(cls, data: Any) -> Any:
        if isinstance(data, dict) and "target" in data:
            raise ValueError("`target` is no longer read: name the gate condition with `condition` (e.g. \"contracts.failed\") "
                             "and what it covers with `item` (e.g. a defect id or an interaction id)")
        return data
