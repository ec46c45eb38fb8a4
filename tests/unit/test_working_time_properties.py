"""Working time against a slow, independent reimplementation that walks minute by minute.

The reference knows nothing of stretches, folds or offset changes: a UTC minute is worked when
its local wall time lies in the shift of an open day (today's, or last night's for a night
shift). Zones, shifts (night shifts and zero-length DST days included), closed days and starts
are drawn near DST changes, where the fast version's folds and offset instants matter.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from worker.specs.working_time import WorkingHours, add_working_time, working_time_between

MINUTE = timedelta(minutes=1)
ZONES = [
    "America/New_York",
    "Europe/London",
    "Europe/Berlin",
    "Australia/Lord_Howe",  # half-hour DST
    "America/Santiago",  # DST changes at midnight
    "Asia/Kolkata",  # no DST, half-hour offset
    "Pacific/Chatham",  # +12:45 / +13:45
]


@cache
def transitions(zone_name: str) -> tuple[datetime, ...]:
    """The instants in 2026 (to the minute) at which the zone's UTC offset changes."""
    zone, found = ZoneInfo(zone_name), []
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    while moment.year == 2026:
        following = moment + timedelta(hours=6)
        if moment.astimezone(zone).utcoffset() != following.astimezone(zone).utcoffset():
            low, high = moment, following
            while high - low > MINUTE:
                middle = low + (high - low) / 2
                same = middle.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset()
                low, high = (middle, high) if same else (low, middle)
            found.append(high.replace(second=0, microsecond=0))
        moment = following
    return tuple(found) or (datetime(2026, 3, 29, 1, tzinfo=UTC),)


def reference_is_worked(
    moment: datetime, hours: WorkingHours, zone: ZoneInfo, closed: frozenset[date]
) -> bool:
    local = moment.astimezone(zone)
    minute = local.hour * 60 + local.minute
    end = hours.end_minute if hours.end_minute > hours.start_minute else hours.end_minute + 1440
    for back in (0, 1):
        opening = local.date() - timedelta(days=back)
        is_open = opening.weekday() in hours.days and opening not in closed
        if is_open and hours.start_minute <= back * 1440 + minute < end:
            return True
    return False


def reference_add(
    start: datetime, minutes: int, hours: WorkingHours, zone: ZoneInfo, closed: frozenset[date]
) -> datetime:
    if minutes == 0:
        return start
    moment, counted = start, 0
    while True:
        if reference_is_worked(moment, hours, zone, closed):
            counted += 1
            if counted == minutes:
                return moment + MINUTE
        moment += MINUTE


def reference_between(
    since: datetime, until: datetime, hours: WorkingHours, zone: ZoneInfo, closed: frozenset[date]
) -> timedelta:
    total, moment = 0, since
    while moment < until:
        total += reference_is_worked(moment, hours, zone, closed)
        moment += MINUTE
    return total * MINUTE


@st.composite
def team(draw: st.DrawFn) -> tuple[WorkingHours, ZoneInfo, frozenset[date], datetime]:
    """Working hours, their zone, closed days and a start minute, all near a DST change."""
    name = draw(st.sampled_from(ZONES))
    zone = ZoneInfo(name)
    change = draw(st.sampled_from(transitions(name)))
    local = change.astimezone(zone)
    near = (local.hour * 60 + local.minute) // 15  # shift edges often sit in the changed hour
    edge = st.integers(-8, 8).map(lambda k: (near + k) % 96) | st.integers(0, 95)
    start_q = draw(edge)
    end_q = draw((edge | st.just(96)).filter(lambda q: q % 96 != start_q))
    days = draw(st.frozensets(st.integers(0, 6), min_size=1))
    nearby = [local.date() + timedelta(days=k) for k in range(-2, 3)]
    closed = draw(st.frozensets(st.sampled_from(nearby)))
    hours = WorkingHours(days, start_q * 15, end_q * 15, closed.__contains__)
    start = change - MINUTE * draw(st.integers(0, 2 * 1440))
    return hours, zone, closed, start


@settings(max_examples=100, deadline=None)
@given(team(), st.integers(0, 2 * 1440))
def test_adding_working_time_matches_the_minute_walk(drawn, minutes: int) -> None:
    """For any shift, zone and start, the fast deadline is the minute the slow walk reaches."""
    hours, zone, closed, start = drawn
    fast = add_working_time(start, minutes * MINUTE, hours, zone)
    assert fast == reference_add(start, minutes, hours, zone, closed)


@settings(max_examples=100, deadline=None)
@given(team(), st.integers(0, 4 * 1440))
def test_working_time_between_matches_the_minute_count(drawn, minutes: int) -> None:
    """The working time in [start, start + n minutes) is the count of worked minutes in it."""
    hours, zone, closed, start = drawn
    until = start + minutes * MINUTE
    assert working_time_between(start, until, hours, zone) == reference_between(
        start, until, hours, zone, closed
    )


@settings(max_examples=100, deadline=None)
@given(team(), st.integers(0, 3 * 1440), st.integers(0, 600))
def test_adding_then_measuring_gives_the_amount_back_and_more_never_ends_sooner(
    drawn, minutes: int, extra: int
) -> None:
    """between(start, add(start, x)) == x, and a longer amount never ends earlier."""
    hours, zone, _, start = drawn
    due = add_working_time(start, minutes * MINUTE, hours, zone)
    assert working_time_between(start, due, hours, zone) == minutes * MINUTE
    assert add_working_time(start, (minutes + extra) * MINUTE, hours, zone) >= due
