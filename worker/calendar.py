"""Send windows, business days, holidays and time zones: pure functions over aware UTC times."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from worker.durations import Duration

ALL_DAYS = frozenset(range(7))
WEEKDAYS = frozenset(range(5))
DAY_MINUTES = 24 * 60
_SEARCH_DAYS = 800  # a window that never opens in two years is a configuration error


def _never_closed(_day: date) -> bool:
    return False


@dataclass(frozen=True)
class SendCalendar:
    """When sending is allowed: open days, [start, end) local minutes, and closed dates."""

    days: frozenset[int] = ALL_DAYS  # 0 = Monday
    start_minute: int = 0
    end_minute: int = DAY_MINUTES
    is_closed: Callable[[date], bool] = field(default=_never_closed, compare=False)
    business_days: frozenset[int] = WEEKDAYS  # the days `business days` count

    def is_open_day(self, day: date) -> bool:
        return day.weekday() in self.days and not self.is_closed(day)

    def is_business_day(self, day: date) -> bool:
        return day.weekday() in self.business_days and not self.is_closed(day)


ANY_TIME = SendCalendar()


def local_to_utc(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """A local wall time as UTC: non-existent times move forward, ambiguous ones take the first."""
    naive = datetime.combine(day, time()) + timedelta(minutes=minute)
    return naive.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _wall_to_utc(day: date, wall: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, wall).replace(tzinfo=zone, fold=0).astimezone(UTC)


def is_open(moment: datetime, calendar: SendCalendar, zone: ZoneInfo) -> bool:
    """True when `moment` lies inside the window, in the zone's local time."""
    local = moment.astimezone(zone)
    minute = local.hour * 60 + local.minute
    return (
        calendar.is_open_day(local.date())
        and calendar.start_minute <= minute < calendar.end_minute
    )


def next_opening(moment: datetime, calendar: SendCalendar, zone: ZoneInfo) -> datetime:
    """The earliest time at or after `moment` that lies inside the send window."""
    first_day = moment.astimezone(zone).date()
    for offset in range(_SEARCH_DAYS):
        day = first_day + timedelta(days=offset)
        if not calendar.is_open_day(day):
            continue
        opens = local_to_utc(day, calendar.start_minute, zone)
        closes = local_to_utc(day, calendar.end_minute, zone)
        if opens.astimezone(zone).date() != day:  # the whole morning is skipped (Apia 2011)
            continue
        candidate = max(moment, opens)
        if candidate < closes:
            return candidate
    raise ValueError("the send window never opens in the next two years")


def add_wait(moment: datetime, wait: Duration, calendar: SendCalendar, zone: ZoneInfo) -> datetime:
    """`moment` plus `wait`: hours are absolute, days count local calendar days at the same hour."""
    if not wait.is_calendar:
        return moment + wait.fixed
    local = moment.astimezone(zone)
    day = local.date()
    if wait.unit == "business":
        counted = 0
        while counted < wait.amount:
            day += timedelta(days=1)
            counted += calendar.is_business_day(day)
    else:
        day += timedelta(days=wait.amount * (7 if wait.unit == "w" else 1))
    return _wall_to_utc(day, local.time().replace(tzinfo=None), zone)


def plan_due(after: datetime, wait: Duration, calendar: SendCalendar, zone: ZoneInfo) -> datetime:
    """When a step waiting `wait` after `after` may go out: the wait, then the window."""
    return next_opening(add_wait(after, wait, calendar, zone), calendar, zone)


@lru_cache(maxsize=512)
def _holiday_dates(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    import holidays  # imported lazily: the package is large and only needed with holidays

    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year).keys())


def closed_dates(
    country: str | None, subdivision: str | None, days_off: frozenset[date]
) -> Callable[[date], bool]:
    """A predicate for public holidays of `country` plus explicit days off."""

    def is_closed(day: date) -> bool:
        if day in days_off:
            return True
        return bool(country) and day in _holiday_dates(country, subdivision, day.year)  # type: ignore[arg-type]

    return is_closed


def check_holiday_country(country: str, subdivision: str | None) -> None:
    """Raise ValueError when the holidays package does not know the country or subdivision."""
    import holidays

    try:
        holidays.country_holidays(country, subdiv=subdivision, years=2026)
    except NotImplementedError:
        raise ValueError(f"unknown holiday country {country!r}") from None
    except Exception as exc:  # noqa: BLE001  # the package raises several types for bad subdivisions
        raise ValueError(f"unknown holiday subdivision {subdivision!r} for {country}: {exc}") from None
