"""Properties of `plan_due` over random zones, dates, windows and waits (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from hypothesis import given, settings
from hypothesis import strategies as st

from worker.specs.calendar import ANY_TIME, DAY_MINUTES, SendCalendar, add_wait, is_open, plan_due
from worker.specs.durations import Duration

ZONES = sorted(available_timezones())
QUARTER = 15


@cache
def offset_changes(zone_name: str, year: int) -> tuple[datetime, ...]:
    """The instants (to the minute) in `year` at which the zone's UTC offset changes."""
    zone = ZoneInfo(zone_name)
    changes = []
    day = datetime(year, 1, 1, tzinfo=UTC)
    while day.year == year:
        following = day + timedelta(days=1)
        if day.astimezone(zone).utcoffset() != following.astimezone(zone).utcoffset():
            low, high = day, following  # bisect to the minute
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) / 2
                same = middle.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset()
                low, high = (middle, high) if same else (low, middle)
            changes.append(high.replace(second=0, microsecond=0))
        day = following
    return tuple(changes)


def local_minute(moment: datetime, zone: ZoneInfo) -> int:
    wall = moment.astimezone(zone)
    return wall.hour * 60 + wall.minute


@st.composite
def window(draw: st.DrawFn, near_minute: int | None = None) -> SendCalendar:
    """Some days and a quarter-hour [start, end); edges often close to `near_minute` if given."""
    days = draw(st.frozensets(st.integers(0, 6), min_size=1))
    edges = st.integers(0, DAY_MINUTES // QUARTER)
    if near_minute is not None:
        near = (
            st.integers(-6, 6)
            .map(lambda k: near_minute // QUARTER + k)
            .filter(lambda q: 0 <= q <= DAY_MINUTES // QUARTER)
        )
        edges = near | edges
    start, end = sorted(draw(st.lists(edges, min_size=2, max_size=2, unique=True)))
    return SendCalendar(
        days=days,
        start_minute=start * QUARTER,
        end_minute=end * QUARTER,
        business_days=days if len(days) < 7 else frozenset(range(5)),
    )


@st.composite
def situations(draw: st.DrawFn) -> tuple[ZoneInfo, datetime, SendCalendar]:
    """A zone, a start moment and a window; often right around one of the zone's DST changes."""
    zone_name = draw(st.sampled_from(ZONES))
    zone = ZoneInfo(zone_name)
    moment = draw(
        st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2040, 12, 31), timezones=st.just(UTC)
        )
    )
    changes = offset_changes(zone_name, moment.year)
    if not changes or draw(st.booleans()):
        return zone, moment, draw(st.just(ANY_TIME) | window())
    change = draw(st.sampled_from(changes))
    moment = change + timedelta(minutes=draw(st.integers(-36 * 60, 12 * 60)))
    before_change = local_minute(change - timedelta(minutes=1), zone) + 1
    return zone, moment, draw(window(near_minute=before_change))


waits = st.builds(Duration, st.integers(0, 400), st.sampled_from(["s", "m", "h"])) | st.builds(
    Duration, st.integers(0, 15), st.sampled_from(["d", "w", "business"])
)


@settings(max_examples=300, deadline=None)
@given(situation=situations(), wait=waits)
def test_plan_due_is_open_not_early_real_and_deterministic(
    situation: tuple[ZoneInfo, datetime, SendCalendar], wait: Duration
) -> None:
    """The planned time respects the wait, lies in the local window, exists, and is repeatable."""
    zone, after, calendar = situation
    due = plan_due(after, wait, calendar, zone)
    assert due >= add_wait(after, wait, calendar, zone)
    assert due >= after
    if not wait.is_calendar:
        assert due >= after + wait.fixed
    assert is_open(due, calendar, zone), f"{due.astimezone(zone)} is outside the window"
    wall = due.astimezone(zone)
    assert wall.replace(tzinfo=None).replace(tzinfo=zone, fold=wall.fold).astimezone(UTC) == due
    assert plan_due(after, wait, calendar, zone) == due


@settings(max_examples=200, deadline=None)
@given(situation=situations())
def test_no_earlier_quarter_hour_was_open(
    situation: tuple[ZoneInfo, datetime, SendCalendar],
) -> None:
    """With no wait, no quarter-hour tick between the start and the planned time was open."""
    zone, after, calendar = situation
    due = plan_due(after, Duration(0, "s"), calendar, zone)
    probe = after.replace(second=0, microsecond=0) + timedelta(minutes=QUARTER - after.minute % 15)
    for _ in range(4 * 24 * 8):
        if probe >= due:
            break
        assert not is_open(probe, calendar, zone), f"{probe.astimezone(zone)} was open before {due}"
        probe += timedelta(minutes=QUARTER)
