"""The gate policy of `interlock.toml`: approvals, condition overrides, waivers, and the strict base every config model shares.

Its own module so that `gates`, which evaluates the policy, reads these models
without importing the whole config, and `config` can ask `gates` whether a
policy is allowed (`config check`) without a cycle between the two.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


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

    justification: str = Field(description='why the exception is acceptable', examples=['the provider fix ships in 1.5'])
    approver: str = Field(description='who approved it', examples=['Dana Reyes'])
    ticket: str = Field(description='the ticket that tracks it', examples=['SHOP-12'])
    expires: datetime = Field(description='when the approval ends, in UTC', examples=['2027-01-31T00:00:00Z'])


class ConditionOverride(_Approved):
    """A change to one gate condition's default; a relaxation carries an approval like a waiver's."""

    threshold: float | None = Field(default=None, description="the condition's new threshold", examples=[0.9])
    operator: Literal["==", "!=", ">", ">=", "<", "<="] | None = Field(default=None, description='the comparison of the metric with the threshold', examples=['>='])
    blocking: bool | None = Field(default=None, description='whether failing the condition fails the gate', examples=[False])
    justification: str | None = Field(default=None, description='why the relaxation is acceptable (required for a relaxation)', examples=['coverage of the legacy API is tracked in SHOP-7'])
    approver: str | None = Field(default=None, description='who approved the relaxation', examples=['Dana Reyes'])
    ticket: str | None = Field(default=None, description='the ticket that tracks it', examples=['SHOP-7'])
    expires: datetime | None = Field(default=None, description='when the relaxation ends, in UTC', examples=['2027-01-31T00:00:00Z'])

    def approval(self) -> Approval | None:
        """The approval given with this override, or None if any part of it is missing."""
        justification, approver, ticket, expires = self.justification, self.approver, self.ticket, self.expires
        if justification is None or approver is None or ticket is None or expires is None:
            return None
        return Approval(justification=justification, approver=approver, ticket=ticket, expires=expires)


class Gates(Model):
    uncovered_interfaces: Literal["fail", "warn"] = Field(default="fail", description='"fail": an interface no test or contract covers fails Gate 1; "warn": it is only reported', examples=['fail'])
    conditions: dict[str, ConditionOverride] = Field(default={}, description='overrides of gate conditions, by condition id', examples=[{'tests.pass_rate': {'threshold': 0.98, 'justification': 'flaky legacy suite', 'approver': 'Dana Reyes', 'ticket': 'SHOP-7', 'expires': '2027-01-31T00:00:00Z'}}])


class Waiver(Approval):
    """An approved exception to one gate condition, or to one item it counts (a defect id, an interaction id, a check id)."""

    condition: str = Field(description='the gate condition waived', examples=['contracts.failed'])
    item: str | None = Field(default=None, description='what the waiver covers within the condition: a defect id, an interaction id or a check id (none: the whole condition)', examples=['web->orders: get order'])

    @model_validator(mode="before")
    @classmethod
    def _no_target(cls, data: Any) -> Any:
        if isinstance(data, dict) and "target" in data:
            raise ValueError("`target` is no longer read: name the gate condition with `condition` (e.g. \"contracts.failed\") "
                             "and what it covers with `item` (e.g. a defect id or an interaction id)")
        return data
