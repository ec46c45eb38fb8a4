"""Sending rates: an owner's warm-up `ramp:` and `throttles:` per recipient domain in team.yaml,
with the pure arithmetic of caps and of when a refused send may try again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from pydantic import BeforeValidator, Field, field_validator, model_validator

from worker.specs.dkim import DOMAIN
from worker.specs.spec_parts import Strict

HOUR = timedelta(hours=1)


class RampSpec(Strict):
    """Warm-up: `start` sends on the first day, `step` more each day after, up to daily_limit."""

    start: int = Field(ge=1, le=100_000)
    step: int = Field(default=0, ge=0, le=100_000)
    since: date | None = None  # day one; else the mailbox's first day in the send ledger

    def cap(self, *, day: date, first_day: date, limit: int) -> int:
        """The day's cap: the smaller of the ramp and the limit (day one is `first_day`)."""
        days_in = max((day - first_day).days, 0)
        return min(self.start + self.step * days_in, limit)


def _domains(value: object) -> object:
    return [value] if isinstance(value, str) else value


class ThrottleSpec(Strict):
    """A rate per recipient domain across every mailbox; several domains may share one count
    (gmail.com with googlemail.com, outlook.com with hotmail.com)."""

    domain: Annotated[
        list[Annotated[str, Field(pattern=DOMAIN, max_length=253)]], BeforeValidator(_domains)
    ] = Field(min_length=1)
    hourly_limit: int | None = Field(default=None, ge=1, le=1_000_000)
    daily_limit: int | None = Field(default=None, ge=1, le=10_000_000)

    @field_validator("domain")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [name.lower() for name in value]

    @model_validator(mode="after")
    def _some_limit(self) -> ThrottleSpec:
        if self.hourly_limit is None and self.daily_limit is None:
            raise ValueError(f"throttle {self.key}: give hourly_limit and/or daily_limit")
        return self

    @property
    def key(self) -> str:
        """The name its count is kept under: the first domain listed."""
        return self.domain[0]


def check_throttles(throttles: list[ThrottleSpec]) -> list[ThrottleSpec]:
    """A recipient domain is counted by one throttle only."""
    seen: set[str] = set()
    for throttle in throttles:
        for name in throttle.domain:
            if name in seen:
                raise ValueError(f"throttles: domain {name} is listed twice")
            seen.add(name)
    return throttles


def hour_of(moment: datetime) -> datetime:
    """The UTC clock hour a send is counted in (hourly limits are per clock hour)."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Counter:
    """A ledger row as read back: sends today, in its current hour, and the last one's time."""

    used: int
    hour_start: datetime | None
    hour_used: int
    last_sent_at: datetime | None


@dataclass(frozen=True)
class Limits:
    """What a ledger row is held to today; None is no limit."""

    cap: int | None = None  # today's cap (the ramp's, or the daily limit)
    hourly: int | None = None
    gap: timedelta | None = None

    @property
    def any(self) -> bool:
        return self.cap is not None or self.hourly is not None or self.gap is not None


def refusals(
    counter: Counter, limits: Limits, now: datetime, day_ends: datetime
) -> list[tuple[datetime, str]]:
    """Every limit that refuses a send now, each with when it lets one through again."""
    found: list[tuple[datetime, str]] = []
    if limits.cap is not None and counter.used >= limits.cap:
        found.append((day_ends, f"{limits.cap} today"))
    hour = hour_of(now)
    this_hour = counter.hour_used if counter.hour_start == hour else 0
    if limits.hourly is not None and this_hour >= limits.hourly:
        found.append((hour + HOUR, f"{limits.hourly} an hour"))
    gap, last = limits.gap, counter.last_sent_at
    if gap is not None and last is not None and last + gap > now:
        found.append((last + gap, f"min_gap {int(gap.total_seconds())}s"))
    return found
