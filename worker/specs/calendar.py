"""Send windows, business days, holidays and time zones: pure functions over aware UTC times."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from worker.specs.durations import Duration

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


def local_to_utc(day: date, minute: int, zone: ZoneInfo, fold: int = 0) -> datetime:
    """A local wall time as UTC: non-existent times move forward, ambiguous ones take `fold`."""
    naive = datetime.combine(day, time()) + timedelta(minutes=minute)
    return naive.replace(tzinfo=zone, fold=fold).astimezone(UTC)


def _wall_to_utc(day: date, wall: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, wall).replace(tzinfo=zone, fold=0).astimezone(UTC)


def is_open(moment: datetime, calendar: SendCalendar, zone: ZoneInfo) -> bool:
    """True when `moment` lies inside the window, in the zone's local time."""
    local = moment.astimezone(zone)
    minute = local.hour * 60 + local.minute
    return (
        calendar.is_open_day(local.date()) and calendar.start_minute <= minute < calendar.end_minute
    )


def next_opening(moment: datetime, calendar: SendCalendar, zone: ZoneInfo) -> datetime:
    """The earliest time at or after `moment` that lies inside the send window."""
    if is_open(moment, calendar, zone):  # what the search below finds first, without it
        return moment
    first_day = moment.astimezone(zone).date()
    for offset in range(_SEARCH_DAYS):
        day = first_day + timedelta(days=offset)
        if calendar.is_open_day(day):
            found = _first_open_on(day, moment, calendar, zone)
            if found is not None:
                return found
    raise ValueError("the send window never opens in the next two years")


def _first_open_on(
    day: date, moment: datetime, calendar: SendCalendar, zone: ZoneInfo
) -> datetime | None:
    """An open stretch starts at `moment`, at the opening wall time (twice on a fall-back day),
    at an offset change (a DST jump into the window) or when the day itself begins (later than
    00:00 where the clocks jump at midnight); the earliest open one on `day` wins."""
    candidates = [moment, local_to_utc(day, 0, zone), *offset_changes(day, zone)]
    candidates += [local_to_utc(day, calendar.start_minute, zone, fold) for fold in (0, 1)]
    usable = [
        c
        for c in candidates
        if c >= moment and c.astimezone(zone).date() == day and is_open(c, calendar, zone)
    ]
    return min(usable, default=None)


def offset_changes(day: date, zone: ZoneInfo) -> list[datetime]:
    """The instant (to the second) the zone's UTC offset changes during local `day`, if it does."""
    low, high = local_to_utc(day, 0, zone), local_to_utc(day, DAY_MINUTES, zone)
    offset = low.astimezone(zone).utcoffset()
    if high.astimezone(zone).utcoffset() == offset:
        return []
    low_s, high_s = int(low.timestamp()), int(high.timestamp())
    while high_s - low_s > 1:
        middle = (low_s + high_s) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == offset:
            low_s = middle
        else:
            high_s = middle
    return [datetime.fromtimestamp(high_s, UTC)]


def add_wait(moment: datetime, wait: Duration, calendar: SendCalendar, zone: ZoneInfo) -> datetime:
    """`moment` plus `wait`: hours are absolute, days count local calendar days at the same hour."""
    if not wait.is_calendar:
        return moment + wait.fixed
    if wait.amount == 0:  # re-reading the wall clock would lose the fold: 01:30 EST -> 01:30 EDT
        return moment
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


def holiday_region(code: str) -> tuple[str, str | None]:
    """`holidays: US-CA` -> ("US", "CA"): the country and its optional subdivision."""
    country, _, subdivision = code.upper().partition("-")
    return country, subdivision or None


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
        return country is not None and day in _holiday_dates(country, subdivision, day.year)

    return is_closed


def check_holiday_country(country: str, subdivision: str | None) -> None:
    """Raise ValueError when the holidays package does not know the country or subdivision."""
    import holidays

    try:
        holidays.country_holidays(country, subdiv=subdivision, years=2026)
    except NotImplementedError:
        raise ValueError(f"unknown holiday country {country!r}") from None
    except Exception as exc:  # the package raises several types for bad subdivisions
        raise ValueError(
            f"unknown holiday subdivision {subdivision!r} for {country}: {exc}"
        ) from None
