"""`team.yaml`: the owners (reps) and their mailboxes, the SLA plan and the strike rule."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, field_validator

from models.validation import normalise_email, normalise_timezone
from worker.specs.durations import Duration
from worker.specs.mailboxes import (
    DEFAULT_AUTO_REPLY_PAUSE_DAYS,
    AutoReplyPause,
    MailboxSpec,
    check_unique,
)
from worker.specs.sending import SendingDomain
from worker.specs.sequences import DurationField, Strict


class OwnerSpec(Strict):
    email: str
    name: str | None = Field(default=None, max_length=200)
    daily_limit: int | None = Field(default=None, ge=1, le=100_000)
    min_gap: DurationField | None = None
    timezone: str | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalise_email(value)

    @field_validator("name")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        """The name goes into every From: a CR, LF or control character would fail each send."""
        if value is not None and any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in value):
            raise ValueError("name must be one line of text (no CR, LF or control characters)")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return normalise_timezone(value) if value else None

    @field_validator("min_gap")
    @classmethod
    def _gap(cls, value: Duration | None) -> Duration | None:
        if value is not None and value.is_calendar:
            raise ValueError("min_gap is counted in s, m or h")
        return value


class SlaPlan(Strict):
    revenue_goal: float = Field(gt=0)
    period: Literal["month", "quarter"] = "month"
    marketing_share: float = Field(gt=0, le=1)
    average_deal_size: float = Field(gt=0)
    close_rate: float = Field(gt=0, le=1)
    reps: int | None = Field(default=None, ge=1)
    attempts_per_lead: int | None = Field(default=None, ge=1)
    minutes_per_attempt: float | None = Field(default=None, gt=0)
    selling_hours_per_rep: float | None = Field(default=None, gt=0)


class StrikeRule(Strict):
    breaches_per_strike: int = Field(default=3, ge=1)
    period: Literal["day", "week", "month"] = "week"


class TeamSpec(Strict):
    owners: list[OwnerSpec] = Field(default_factory=list)
    sla_plan: SlaPlan | None = None
    strikes: StrikeRule | None = None
    days_off: list[date] = Field(default_factory=list)
    mailboxes: list[MailboxSpec] = Field(default_factory=list)  # worker/specs/mailboxes.py
    auto_reply_pause: AutoReplyPause = DEFAULT_AUTO_REPLY_PAUSE_DAYS
    sending_domains: list[SendingDomain] = Field(default_factory=list)

    @field_validator("owners")
    @classmethod
    def _unique(cls, owners: list[OwnerSpec]) -> list[OwnerSpec]:
        emails = [o.email for o in owners]
        duplicates = sorted({e for e in emails if emails.count(e) > 1})
        if duplicates:
            raise ValueError(f"owner listed twice: {', '.join(duplicates)}")
        return owners

    @field_validator("mailboxes")
    @classmethod
    def _mailboxes(cls, mailboxes: list[MailboxSpec]) -> list[MailboxSpec]:
        return check_unique(mailboxes)

    def owner(self, email: str | None) -> OwnerSpec | None:
        return next((o for o in self.owners if o.email == email), None) if email else None
