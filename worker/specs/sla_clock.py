"""The clock an SLA counts on: calendar time, or only the hours somebody works (`sla.clock`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from models.validation import normalise_timezone
from worker.specs.calendar import (
    SendCalendar,
    add_wait,
    check_holiday_country,
    closed_dates,
    holiday_region,
)
from worker.specs.durations import Duration
from worker.specs.sequences import HOLIDAYS_PATTERN, SequenceSpec
from worker.specs.spec_parts import DAY_NAMES, Days, Strict, parse_hours
from worker.specs.working_time import (
    WorkingHours,
    add_working_time,
    advance,
    working_time_between,
)

CALENDAR, BUSINESS_HOURS = "calendar", "business_hours"


class WorkingHoursSpec(Strict):
    """An owner's `working_hours` in team.yaml: the hours their SLA clock runs in."""

    days: Days = Field(default_factory=lambda: list(DAY_NAMES[:5]))
    hours: str = "09:00-17:00"
    timezone: str | None = None  # the owner's timezone when unset (team.py fills it in)
    holidays: str | None = Field(default=None, pattern=HOLIDAYS_PATTERN)
    days_off: list[date] = Field(default_factory=list)

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        start, end = parse_hours(value)
        if start == end % (24 * 60):
            raise ValueError(f"hours {value!r}: the shift is empty")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return normalise_timezone(value) if value else None

    @field_validator("holidays")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value:
            check_holiday_country(*holiday_region(value))
        return value

    def working_hours(self, holidays: str | None, days_off: Iterable[date]) -> WorkingHours:
        """These hours, closed on the owner's holidays (else `holidays`) and every day off."""
        code = self.holidays or holidays
        country, subdivision = holiday_region(code) if code else (None, None)
        start, end = parse_hours(self.hours)
        return WorkingHours(
            days=frozenset(DAY_NAMES.index(day) for day in self.days),
            start_minute=start,
            end_minute=end,
            is_closed=closed_dates(country, subdivision, frozenset([*days_off, *self.days_off])),
        )


class SlaClock(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def zone(self) -> ZoneInfo:
        """Where the clock's hours are read: deadlines are shown in it."""
        ...

    def deadline(self, start: datetime, duration: Duration) -> datetime: ...

    def deadline_and_risk(
        self, start: datetime, duration: Duration, share: float
    ) -> tuple[datetime, datetime]:
        """The deadline, and when `share` of the time to it has passed on this clock."""
        ...

    def elapsed(self, since: datetime, until: datetime) -> timedelta: ...

    def after(self, start: datetime, amount: timedelta) -> datetime: ...


@dataclass(frozen=True)
class CalendarClock:
    """Every hour counts; day units keep the wall-clock hour (today's behaviour)."""

    calendar: SendCalendar
    zone: ZoneInfo
    name: str = CALENDAR

    def deadline(self, start: datetime, duration: Duration) -> datetime:
        return add_wait(start, duration, self.calendar, self.zone)

    def deadline_and_risk(
        self, start: datetime, duration: Duration, share: float
    ) -> tuple[datetime, datetime]:
        due = self.deadline(start, duration)
        return due, start + _whole_seconds((due - start) * share)

    def elapsed(self, since: datetime, until: datetime) -> timedelta:
        return max(until - since, timedelta(0))

    def after(self, start: datetime, amount: timedelta) -> datetime:
        return start + amount


@dataclass(frozen=True)
class BusinessHoursClock:
    """Only working time counts: `4h` is four working hours, `1d` a shift, `1w` a week's shifts."""

    hours: WorkingHours
    zone: ZoneInfo
    name: str = BUSINESS_HOURS

    def working_amount(self, duration: Duration) -> timedelta:
        if not duration.is_calendar:
            return duration.fixed
        days = duration.amount * (len(self.hours.days) if duration.unit == "w" else 1)
        return self.hours.shift_length * days

    def deadline(self, start: datetime, duration: Duration) -> datetime:
        return add_working_time(start, self.working_amount(duration), self.hours, self.zone)

    def deadline_and_risk(
        self, start: datetime, duration: Duration, share: float
    ) -> tuple[datetime, datetime]:
        amount = self.working_amount(duration)
        due, risk = advance(start, [amount, _whole_seconds(amount * share)], self.hours, self.zone)
        return due, risk

    def elapsed(self, since: datetime, until: datetime) -> timedelta:
        return working_time_between(since, until, self.hours, self.zone)

    def after(self, start: datetime, amount: timedelta) -> datetime:
        return add_working_time(start, amount, self.hours, self.zone)


def _whole_seconds(amount: timedelta) -> timedelta:
    return timedelta(seconds=int(amount.total_seconds()))


def sla_clock_for(
    spec: SequenceSpec, working_hours: WorkingHoursSpec | None, lead_timezone: str | None
) -> SlaClock:
    """The sequence's clock for one lead: its owner's working hours, else the send window."""
    if spec.sla is None or spec.sla.clock == CALENDAR:
        return CalendarClock(spec.calendar, spec.zone_for(lead_timezone))
    if working_hours is not None and working_hours.timezone:
        shifts = working_hours.working_hours(spec.holidays, spec.days_off)
        return BusinessHoursClock(shifts, ZoneInfo(working_hours.timezone))
    calendar = spec.calendar
    hours = WorkingHours(
        calendar.days, calendar.start_minute, calendar.end_minute, calendar.is_closed
    )
    return BusinessHoursClock(hours, spec.zone_for(lead_timezone))
