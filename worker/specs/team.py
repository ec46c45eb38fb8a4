"""`team.yaml`: the owners (reps) and their mailboxes, the SLA plan and the strike rule."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, field_validator, model_validator

from models.validation import normalise_email, normalise_timezone
from worker.mail.dkim import DkimKey
from worker.specs.alerts import DEFAULT_AT_RISK_AFTER, AlertsSpec
from worker.specs.dkim import DkimSpec
from worker.specs.dkim import check_unique as unique_selectors
from worker.specs.durations import Duration
from worker.specs.guardrails import GuardrailSpec
from worker.specs.mailboxes import (
    DEFAULT_AUTO_REPLY_PAUSE_DAYS,
    AutoReplyPause,
    MailboxSpec,
    check_unique,
)
from worker.specs.sending import SendingDomain
from worker.specs.sla_clock import WorkingHoursSpec
from worker.specs.spec_parts import DurationField, Strict
from worker.specs.throttles import RampSpec, ThrottleSpec, check_throttles
from worker.specs.validation_errors import Problem, located_error
from worker.specs.webhooks import WebhookSpec, unique_names


class OwnerSpec(Strict):
    email: str
    name: str | None = Field(default=None, max_length=200)
    daily_limit: int | None = Field(default=None, ge=1, le=100_000)
    min_gap: DurationField | None = None
    hourly_limit: int | None = Field(default=None, ge=1, le=100_000)
    ramp: RampSpec | None = None  # warm-up up to daily_limit (worker/specs/throttles.py)
    timezone: str | None = None
    manager: str | None = None  # hears this owner's breaches; must be in owners too
    working_hours: WorkingHoursSpec | None = None  # the hours a business-hours SLA counts

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalise_email(value)

    @field_validator("manager")
    @classmethod
    def _manager(cls, value: str | None) -> str | None:
        return normalise_email(value) if value else None

    @model_validator(mode="after")
    def _hours_zone(self) -> OwnerSpec:
        """Working hours are read in their own timezone, else the owner's."""
        hours = self.working_hours
        if hours is None or hours.timezone:
            return self
        if not self.timezone:
            raise located_error(
                (("working_hours",), "working_hours needs a timezone (or set the owner's timezone)")
            )
        object.__setattr__(
            self, "working_hours", hours.model_copy(update={"timezone": self.timezone})
        )
        return self

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

    @model_validator(mode="after")
    def _ramp_limit(self) -> OwnerSpec:
        if self.ramp is not None and self.daily_limit is None:
            raise ValueError(f"{self.email}: a ramp climbs to daily_limit; set daily_limit too")
        return self

    @property
    def limited(self) -> bool:
        """Whether sends from this mailbox are counted at all."""
        return any(
            value is not None for value in (self.daily_limit, self.hourly_limit, self.min_gap)
        )


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
    alerts: AlertsSpec | None = None
    webhooks: list[WebhookSpec] = Field(default_factory=list)
    mailboxes: list[MailboxSpec] = Field(default_factory=list)  # worker/specs/mailboxes.py
    auto_reply_pause: AutoReplyPause = DEFAULT_AUTO_REPLY_PAUSE_DAYS
    sending_domains: list[SendingDomain] = Field(default_factory=list)
    dkim: list[DkimSpec] = Field(default_factory=list)  # worker/specs/dkim.py
    throttles: list[ThrottleSpec] = Field(default_factory=list)  # worker/specs/throttles.py
    guardrails: GuardrailSpec = (
        GuardrailSpec()
    )  # on with safe defaults (worker/specs/guardrails.py)

    @field_validator("owners")
    @classmethod
    def _unique(cls, owners: list[OwnerSpec]) -> list[OwnerSpec]:
        emails = [o.email for o in owners]
        duplicates = sorted({e for e in emails if emails.count(e) > 1})
        if duplicates:
            raise ValueError(f"owner listed twice: {', '.join(duplicates)}")
        return owners

    @field_validator("webhooks")
    @classmethod
    def _webhook_names(cls, webhooks: list[WebhookSpec]) -> list[WebhookSpec]:
        return unique_names(webhooks)

    @model_validator(mode="after")
    def _known_people(self) -> TeamSpec:
        """Managers and pool members are owners, so their names and mailboxes are known."""
        known = {o.email for o in self.owners}
        problems: list[Problem] = [
            (("owners", i, "manager"), f"manager {o.manager} is not one of the owners")
            for i, o in enumerate(self.owners)
            if o.manager and o.manager not in known
        ]
        alerts = self.alerts
        if alerts is not None:
            problems += [
                (("alerts", "pool", i), f"pool member {email} is not one of the owners")
                for i, email in enumerate(alerts.pool)
                if email not in known
            ]
            if "webhook" in alerts.channels and not self.hears_sla_events():
                where = ("alerts", "channels", alerts.channels.index("webhook"))
                message = (
                    "the webhook channel needs a webhook that receives sla.at_risk or sla.breached"
                )
                problems.append((where, message))
        if problems:
            raise located_error(*problems)
        return self

    def hears_sla_events(self) -> bool:
        return any(w.wants("sla.at_risk") or w.wants("sla.breached") for w in self.webhooks)

    @property
    def at_risk_after(self) -> float:
        """The share of an SLA window after which an unmet deadline is at risk."""
        return self.alerts.at_risk_after if self.alerts else DEFAULT_AT_RISK_AFTER

    @field_validator("mailboxes")
    @classmethod
    def _mailboxes(cls, mailboxes: list[MailboxSpec]) -> list[MailboxSpec]:
        return check_unique(mailboxes)

    @field_validator("dkim")
    @classmethod
    def _dkim(cls, entries: list[DkimSpec]) -> list[DkimSpec]:
        return unique_selectors(entries)

    @field_validator("throttles")
    @classmethod
    def _throttles(cls, throttles: list[ThrottleSpec]) -> list[ThrottleSpec]:
        return check_throttles(throttles)

    def throttle_for(self, recipient: str) -> ThrottleSpec | None:
        """The throttle that counts mail to this address's domain, if any."""
        domain = recipient.rpartition("@")[2].lower()
        return next((t for t in self.throttles if domain in t.domain), None)

    def dkim_keys(self) -> list[DkimKey]:
        return [entry.key for entry in self.dkim]

    def owner(self, email: str | None) -> OwnerSpec | None:
        return next((o for o in self.owners if o.email == email), None) if email else None
