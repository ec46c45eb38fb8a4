"""Working time for business-hours SLA clocks: which instants are worked, and how much in all.

A shift opens on a working day at `start_minute` local time and closes at `end_minute`, on the
next day when that is not after the start (a night shift). An instant is worked when its local
wall time lies inside the shift of an open day, so a DST change shortens or lengthens a shift
by the hour the clocks skip or repeat. Pure functions over aware UTC times.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from worker.specs.calendar import ALL_DAYS, DAY_MINUTES, local_to_utc, offset_changes

_SEARCH_DAYS = 800  # working hours that never open in two years are a configuration error
_DAY = timedelta(days=1)
Stretch = tuple[datetime, datetime]  # [start, end) in UTC, worked throughout


def _never_closed(_day: date) -> bool:
    return False


@dataclass(frozen=True)
class WorkingHours:
    """When a team works: open days (0 = Monday), the shift's local minutes, and closed dates."""

    days: frozenset[int] = ALL_DAYS
    start_minute: int = 0
    end_minute: int = DAY_MINUTES
    is_closed: Callable[[date], bool] = field(default=_never_closed, compare=False)

    @property
    def shift_end(self) -> int:
        """The closing minute counted from the opening day's midnight (past 1440 at night)."""
        if self.end_minute > self.start_minute:
            return self.end_minute
        return self.end_minute + DAY_MINUTES

    @property
    def shift_length(self) -> timedelta:
        """The shift on a day without a DST change: what one working day of an SLA means."""
        return timedelta(minutes=self.shift_end - self.start_minute)

    def opens_on(self, day: date) -> bool:
        return day.weekday() in self.days and not self.is_closed(day)


def _in_shift(moment: datetime, day: date, hours: WorkingHours, zone: ZoneInfo) -> bool:
    """Whether `moment`'s wall time, counted from `day`'s midnight, lies in that day's shift."""
    local = moment.astimezone(zone)
    days = (local.date() - day).days
    wall = (
        days * 86400
        + local.hour * 3600
        + local.minute * 60
        + local.second
        + local.microsecond / 1e6
    )
    return hours.start_minute * 60 <= wall < hours.shift_end * 60


def shift_stretches(day: date, hours: WorkingHours, zone: ZoneInfo) -> list[Stretch]:
    """The UTC stretches worked in the shift that opens on local `day` (none when it is closed).

    Membership can only change where the wall clock crosses the opening or closing time (each
    at both folds) or jumps (an offset change), so testing the middle of every piece between
    those instants finds the stretches exactly: one on most days, none in a skipped hour.
    """
    if not hours.opens_on(day):
        return []
    points = {
        local_to_utc(day, minute, zone, fold)
        for minute in (hours.start_minute, hours.shift_end)
        for fold in (0, 1)
    }
    points.update(offset_changes(day, zone), offset_changes(day + _DAY, zone))
    stretches: list[Stretch] = []
    for low, high in pairwise(sorted(points)):
        if not _in_shift(low + (high - low) / 2, day, hours, zone):
            continue
        if stretches and stretches[-1][1] == low:
            stretches[-1] = (stretches[-1][0], high)
        else:
            stretches.append((low, high))
    return stretches


def worked_stretches(since: datetime, hours: WorkingHours, zone: ZoneInfo) -> Iterator[Stretch]:
    """The worked stretches from `since` on, in order (the first may begin at `since` itself)."""
    day = since.astimezone(zone).date() - _DAY  # last night's shift may still be running
    idle = 0
    while idle <= _SEARCH_DAYS:
        found = False
        for start, end in shift_stretches(day, hours, zone):
            if end > since:
                found = True
                yield max(start, since), end
        idle = 0 if found else idle + 1
        day += _DAY
    raise ValueError("the working hours never open in the next two years")


def advance(
    start: datetime, amounts: Sequence[timedelta], hours: WorkingHours, zone: ZoneInfo
) -> list[datetime]:
    """For each amount, the earliest moment by which that much working time has passed since
    `start`; an amount that fills the day exactly ends at closing time, not the next opening."""
    order = sorted(range(len(amounts)), key=lambda i: amounts[i])
    found: list[datetime] = [start] * len(amounts)
    pending = [i for i in order if amounts[i] > timedelta(0)]
    if not pending:
        return found
    worked = timedelta(0)
    for low, high in worked_stretches(start, hours, zone):
        while pending and worked + (high - low) >= amounts[pending[0]]:
            found[pending[0]] = low + (amounts[pending[0]] - worked)
            pending.pop(0)
        if not pending:
            return found
        worked += high - low
    raise AssertionError("unreachable: worked_stretches raises before it runs out")


def add_working_time(
    start: datetime, amount: timedelta, hours: WorkingHours, zone: ZoneInfo
) -> datetime:
    """The moment `amount` of working time after `start`."""
    return advance(start, [amount], hours, zone)[0]


def working_time_between(
    since: datetime, until: datetime, hours: WorkingHours, zone: ZoneInfo
) -> timedelta:
    """How much working time lies in [since, until)."""
    total = timedelta(0)
    if until <= since:
        return total
    for low, high in worked_stretches(since, hours, zone):
        if low >= until:
            break
        total += min(high, until) - low
    return total
