"""Working time for business-hours clocks: weekends, holidays, DST, night shifts, closing time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from worker.specs.calendar import closed_dates
from worker.specs.working_time import (
    WorkingHours,
    add_working_time,
    shift_stretches,
    working_time_between,
)

NY = ZoneInfo("America/New_York")
MADRID = ZoneInfo("Europe/Madrid")
NINE_TO_FIVE = WorkingHours(days=frozenset(range(5)), start_minute=9 * 60, end_minute=17 * 60)
H = timedelta(hours=1)


def ny(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NY)


def test_a_lead_arriving_friday_night_with_four_hours_is_due_monday_at_one() -> None:
    """Given 09:00-17:00 on weekdays, a lead arriving Friday 22:00 with 4h is due Monday 13:00."""
    assert add_working_time(ny(2026, 12, 4, 22, 0), 4 * H, NINE_TO_FIVE, NY) == ny(2026, 12, 7, 13)


def test_a_deadline_that_fills_the_day_exactly_ends_at_closing_time() -> None:
    """Eight hours from Monday's opening end at 17:00 Monday, not at 09:00 Tuesday."""
    assert add_working_time(ny(2026, 12, 7, 9), 8 * H, NINE_TO_FIVE, NY) == ny(2026, 12, 7, 17)
    assert add_working_time(ny(2026, 12, 7, 9), 8 * H + timedelta(seconds=1), NINE_TO_FIVE, NY) == (
        ny(2026, 12, 8, 9, 0) + timedelta(seconds=1)
    )


def test_time_inside_the_day_counts_from_now_and_carries_over() -> None:
    """Monday 15:00 plus 4 working hours is Tuesday 11:00."""
    assert add_working_time(ny(2026, 12, 7, 15), 4 * H, NINE_TO_FIVE, NY) == ny(2026, 12, 8, 11)


def test_holidays_and_days_off_are_skipped() -> None:
    """Christmas (a US holiday) and a company day off on the 24th do not count."""
    closed = closed_dates("US", None, frozenset({date(2026, 12, 24)}))
    hours = WorkingHours(NINE_TO_FIVE.days, 9 * 60, 17 * 60, closed)
    assert add_working_time(ny(2026, 12, 23, 16), 2 * H, hours, NY) == ny(2026, 12, 28, 10)


def test_zero_working_time_is_the_start_itself() -> None:
    """Zero hours after a Saturday moment is that moment, not Monday's opening."""
    saturday = ny(2026, 12, 5, 12)
    assert add_working_time(saturday, timedelta(0), NINE_TO_FIVE, NY) == saturday


def test_a_spring_forward_day_is_an_hour_shorter_when_the_skipped_hour_is_worked() -> None:
    """A 00:00-06:00 shift on the day New York skips 02:00-03:00 holds five hours, not six."""
    hours = WorkingHours(start_minute=0, end_minute=6 * 60)
    day = date(2026, 3, 8)
    assert sum((b - a for a, b in shift_stretches(day, hours, NY)), timedelta(0)) == 5 * H


def test_a_fall_back_day_counts_the_repeated_hour_twice() -> None:
    """A 00:00-06:00 shift on the day New York repeats 01:00-02:00 holds seven hours."""
    hours = WorkingHours(start_minute=0, end_minute=6 * 60)
    assert working_time_between(ny(2026, 11, 1, 0), ny(2026, 11, 1, 12), hours, NY) == 7 * H


def test_a_shift_inside_the_skipped_hour_is_a_zero_length_day() -> None:
    """02:00-03:00 does not exist on 8 March in New York: that day holds no working time."""
    hours = WorkingHours(start_minute=2 * 60, end_minute=3 * 60)
    assert shift_stretches(date(2026, 3, 8), hours, NY) == []
    due = add_working_time(ny(2026, 3, 7, 12), 30 * timedelta(minutes=1), hours, NY)
    assert due == ny(2026, 3, 9, 2, 30)


def test_a_night_shift_runs_past_midnight_and_belongs_to_its_opening_day() -> None:
    """A Friday 22:00-06:00 shift works into Saturday morning; Saturday opens no shift itself."""
    hours = WorkingHours(days=frozenset({4}), start_minute=22 * 60, end_minute=6 * 60)
    assert add_working_time(ny(2026, 12, 4, 21), 5 * H, hours, NY) == ny(2026, 12, 5, 3)
    assert add_working_time(ny(2026, 12, 5, 5), 2 * H, hours, NY) == ny(2026, 12, 11, 23)


def test_a_holiday_closes_the_night_shift_that_opens_on_it() -> None:
    """The shift opening on a day off does not run, even the part after midnight."""
    closed = closed_dates(None, None, frozenset({date(2026, 12, 4)}))
    hours = WorkingHours(frozenset({3, 4}), 22 * 60, 6 * 60, closed)
    start = ny(2026, 12, 3, 22)
    assert add_working_time(start, 8 * H, hours, NY) == ny(2026, 12, 4, 6)
    assert add_working_time(start, 9 * H, hours, NY) == ny(2026, 12, 10, 23)


def test_working_time_is_counted_in_the_teams_zone() -> None:
    """A Madrid team's 09:00 is 08:00 UTC in winter: an arrival at 07:00 UTC waits an hour."""
    hours = WorkingHours(NINE_TO_FIVE.days, 9 * 60, 17 * 60)
    arrival = datetime(2026, 12, 7, 7, tzinfo=UTC)
    assert add_working_time(arrival, H, hours, MADRID) == datetime(2026, 12, 7, 9, tzinfo=UTC)


def test_hours_that_never_open_are_an_error() -> None:
    """Every day closed: one clear error instead of an endless search."""
    hours = WorkingHours(days=frozenset(), start_minute=0, end_minute=60)
    with pytest.raises(ValueError, match="never open"):
        add_working_time(ny(2026, 12, 7, 9), H, hours, NY)


def test_between_is_zero_for_an_empty_or_reversed_range() -> None:
    """No working time lies in [t, t) or in a range that ends before it starts."""
    monday = ny(2026, 12, 7, 10)
    assert working_time_between(monday, monday, NINE_TO_FIVE, NY) == timedelta(0)
    assert working_time_between(monday, monday - H, NINE_TO_FIVE, NY) == timedelta(0)
