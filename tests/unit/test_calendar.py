"""Send windows, waits, business days, holidays and time zones (worker/specs/calendar.py)."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.support.times import local, utc
from worker.specs.calendar import (
    ANY_TIME,
    WEEKDAYS,
    SendCalendar,
    add_wait,
    closed_dates,
    is_open,
    next_opening,
    plan_due,
)
from worker.specs.durations import parse_duration

NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
TOKYO = ZoneInfo("Asia/Tokyo")
OFFICE_HOURS = SendCalendar(days=WEEKDAYS, start_minute=9 * 60, end_minute=17 * 60)
EVERY_DAY_9_TO_5 = SendCalendar(start_minute=9 * 60, end_minute=17 * 60)


def test_a_due_time_at_night_moves_to_the_next_opening_in_the_leads_zone() -> None:
    """22:00 in New York (03:00 UTC next day) waits for 09:00 New York time."""
    night = local(NEW_YORK, 2026, 11, 30, 22, 0)
    assert next_opening(night, OFFICE_HOURS, NEW_YORK) == local(NEW_YORK, 2026, 12, 1, 9, 0)
    assert next_opening(night, OFFICE_HOURS, NEW_YORK) == utc(2026, 12, 1, 14, 0)


def test_a_due_time_before_opening_moves_to_that_mornings_opening() -> None:
    """06:00 local waits until 09:00 the same day."""
    early = local(NEW_YORK, 2026, 12, 1, 6, 0)
    assert next_opening(early, OFFICE_HOURS, NEW_YORK) == local(NEW_YORK, 2026, 12, 1, 9, 0)


def test_a_due_time_inside_the_window_is_kept() -> None:
    """Nothing moves when the window is open, including exactly at opening."""
    for moment in (local(NEW_YORK, 2026, 12, 1, 9, 0), local(NEW_YORK, 2026, 12, 1, 16, 59)):
        assert is_open(moment, OFFICE_HOURS, NEW_YORK)
        assert next_opening(moment, OFFICE_HOURS, NEW_YORK) == moment


def test_the_window_closes_at_its_end_minute() -> None:
    """`09:00-17:00` is [09:00, 17:00): 17:00 itself is closed."""
    closing = local(NEW_YORK, 2026, 12, 1, 17, 0)
    assert not is_open(closing, OFFICE_HOURS, NEW_YORK)
    assert next_opening(closing, OFFICE_HOURS, NEW_YORK) == local(NEW_YORK, 2026, 12, 2, 9, 0)


def test_weekends_are_skipped() -> None:
    """Friday evening waits until Monday morning; Saturday noon too."""
    monday = local(NEW_YORK, 2026, 12, 7, 9, 0)
    assert next_opening(local(NEW_YORK, 2026, 12, 4, 18, 0), OFFICE_HOURS, NEW_YORK) == monday
    assert next_opening(local(NEW_YORK, 2026, 12, 5, 12, 0), OFFICE_HOURS, NEW_YORK) == monday


def test_the_weekday_is_the_leads_not_utcs() -> None:
    """Sunday 23:30 UTC is Monday 08:30 in Tokyo: a weekday, opening at 09:00 Tokyo time."""
    sunday_utc = utc(2026, 11, 29, 23, 30)
    assert next_opening(sunday_utc, OFFICE_HOURS, TOKYO) == utc(2026, 11, 30, 0, 0)
    assert next_opening(sunday_utc, OFFICE_HOURS, NEW_YORK) == local(NEW_YORK, 2026, 11, 30, 9, 0)


def test_a_tokyo_window_opens_on_the_previous_utc_date() -> None:
    """08:00 Tuesday in Tokyo is 23:00 Monday UTC: the opening is on the earlier UTC date."""
    calendar = SendCalendar(days=WEEKDAYS, start_minute=8 * 60, end_minute=17 * 60)
    monday_evening_tokyo = utc(2026, 11, 30, 12, 0)  # 21:00 Monday in Tokyo
    opening = next_opening(monday_evening_tokyo, calendar, TOKYO)
    assert opening == utc(2026, 11, 30, 23, 0)
    assert opening.astimezone(TOKYO).date() == date(2026, 12, 1)


def test_kolkata_half_hour_offset() -> None:
    """09:00 in Kolkata (UTC+05:30) is 03:30 UTC."""
    early = utc(2026, 11, 30, 1, 0)  # 06:30 in Kolkata
    assert next_opening(early, OFFICE_HOURS, KOLKATA) == utc(2026, 11, 30, 3, 30)
    assert not is_open(utc(2026, 11, 30, 11, 30), OFFICE_HOURS, KOLKATA)  # 17:00 local
    assert is_open(utc(2026, 11, 30, 11, 29), OFFICE_HOURS, KOLKATA)


def test_spring_forward_moves_the_opening_an_hour_earlier_in_utc() -> None:
    """New York, Sunday 2025-03-09: 09:00 is EDT (13:00 UTC), the day before EST (14:00 UTC)."""
    saturday_evening = local(NEW_YORK, 2025, 3, 8, 18, 0)
    assert next_opening(saturday_evening, EVERY_DAY_9_TO_5, NEW_YORK) == utc(2025, 3, 9, 13, 0)
    before = local(NEW_YORK, 2025, 3, 7, 18, 0)
    assert next_opening(before, EVERY_DAY_9_TO_5, NEW_YORK) == utc(2025, 3, 8, 14, 0)


def test_fall_back_moves_the_opening_an_hour_later_in_utc() -> None:
    """New York, Sunday 2025-11-02: 09:00 is EST (14:00 UTC), the day before EDT (13:00 UTC)."""
    saturday_evening = local(NEW_YORK, 2025, 11, 1, 18, 0)
    assert next_opening(saturday_evening, EVERY_DAY_9_TO_5, NEW_YORK) == utc(2025, 11, 2, 14, 0)
    before = local(NEW_YORK, 2025, 10, 31, 18, 0)
    assert next_opening(before, EVERY_DAY_9_TO_5, NEW_YORK) == utc(2025, 11, 1, 13, 0)


def test_an_opening_in_the_spring_forward_gap_moves_to_the_first_real_minute() -> None:
    """02:00 does not exist on 2025-03-09 in New York; a 02:00-04:00 window opens at 03:00 EDT."""
    calendar = SendCalendar(start_minute=2 * 60, end_minute=4 * 60)
    opening = next_opening(local(NEW_YORK, 2025, 3, 9, 0, 30), calendar, NEW_YORK)
    assert opening == utc(2025, 3, 9, 7, 0)
    assert opening.astimezone(NEW_YORK).hour == 3
    assert is_open(opening, calendar, NEW_YORK)


def test_a_day_that_begins_at_01_00_is_open_from_its_first_minute() -> None:
    """Coyhaique's clocks jumped from 00:00 to 01:00 on 2000-10-15 (found by hypothesis): a
    00:15-24:00 window is open at 01:00 -03:00, the day's first instant, not only from 01:15."""
    zone = ZoneInfo("America/Coyhaique")
    sundays = frozenset({6})  # the Saturday before is closed, so the search reaches the Sunday
    calendar = SendCalendar(
        days=sundays, start_minute=15, end_minute=24 * 60, business_days=sundays
    )
    opening = next_opening(utc(2000, 10, 15, 3, 59), calendar, zone)
    assert opening == utc(2000, 10, 15, 4, 0)
    assert opening.astimezone(zone).hour == 1 and is_open(opening, calendar, zone)


def test_a_window_inside_the_spring_forward_gap_is_closed_that_day() -> None:
    """02:00-02:45 never happens on 2025-03-09 in New York: the next opening is the next day."""
    calendar = SendCalendar(start_minute=2 * 60, end_minute=2 * 60 + 45)
    opening = next_opening(local(NEW_YORK, 2025, 3, 9, 0, 0), calendar, NEW_YORK)
    assert opening == local(NEW_YORK, 2025, 3, 10, 2, 0)
    assert is_open(opening, calendar, NEW_YORK)


def test_a_window_ending_inside_the_gap_closes_when_the_gap_starts() -> None:
    """01:00-02:30 on 2025-03-09 ends at 02:00 EST = 03:00 EDT; 03:10 EDT is closed."""
    calendar = SendCalendar(start_minute=60, end_minute=150)
    after_gap = utc(2025, 3, 9, 7, 10)  # 03:10 EDT
    assert not is_open(after_gap, calendar, NEW_YORK)
    assert next_opening(after_gap, calendar, NEW_YORK) == local(NEW_YORK, 2025, 3, 10, 1, 0)


def test_a_window_starting_in_the_gap_opens_when_the_clocks_jump() -> None:
    """02:30-04:00 on 2025-03-09: 03:00 EDT is already inside the window, so it opens then."""
    calendar = SendCalendar(start_minute=150, end_minute=240)
    assert next_opening(local(NEW_YORK, 2025, 3, 9, 0, 0), calendar, NEW_YORK) == utc(
        2025, 3, 9, 7, 0
    )


def test_a_fall_back_day_reopens_the_window_in_the_repeated_hour() -> None:
    """01:45-02:00 happens twice on 2025-11-02 in New York; after the first, the second is next."""
    calendar = SendCalendar(start_minute=105, end_minute=120)
    first_pass_over = utc(2025, 11, 2, 6, 0)  # 01:00 EST, the repeated hour begins
    opening = next_opening(first_pass_over, calendar, NEW_YORK)
    assert opening == utc(2025, 11, 2, 6, 45)  # 01:45 EST
    assert is_open(opening, calendar, NEW_YORK)
    assert not is_open(utc(2025, 11, 2, 6, 30), calendar, NEW_YORK)


def test_a_zero_day_wait_never_goes_back_in_time() -> None:
    """The second 01:30 of 2025-11-02 (EST) plus 0d is itself, not 01:30 EDT an hour before."""
    second_half_past_one = utc(2025, 11, 2, 6, 30)
    for wait in ("0d", "0w", "0 business days"):
        assert add_wait(second_half_past_one, parse_duration(wait), ANY_TIME, NEW_YORK) == (
            second_half_past_one
        )


def test_hours_are_absolute_and_days_keep_the_local_wall_clock() -> None:
    """24h across spring-forward lands at 10:00, 1d lands at 09:00 like the day before."""
    saturday_9am = local(NEW_YORK, 2025, 3, 8, 9, 0)
    assert add_wait(saturday_9am, parse_duration("24h"), ANY_TIME, NEW_YORK) == local(
        NEW_YORK, 2025, 3, 9, 10, 0
    )
    assert add_wait(saturday_9am, parse_duration("1d"), ANY_TIME, NEW_YORK) == local(
        NEW_YORK, 2025, 3, 9, 9, 0
    )
    assert add_wait(saturday_9am, parse_duration("1w"), ANY_TIME, NEW_YORK) == local(
        NEW_YORK, 2025, 3, 15, 9, 0
    )


def test_two_business_days_skip_the_weekend_and_a_us_holiday() -> None:
    """Friday 2025-08-29 + 2 business days: not Sat, Sun, nor Labor Day Mon 09-01 -> Wed 09-03."""
    calendar = SendCalendar(
        days=WEEKDAYS,
        start_minute=9 * 60,
        end_minute=17 * 60,
        is_closed=closed_dates("US", None, frozenset()),
    )
    friday_11am = local(NEW_YORK, 2025, 8, 29, 11, 0)
    due = plan_due(friday_11am, parse_duration("2 business days"), calendar, NEW_YORK)
    assert due == local(NEW_YORK, 2025, 9, 3, 11, 0)


def test_business_days_across_a_weekend_without_holidays() -> None:
    """Thursday + 2 business days is Monday, same local time."""
    thursday = local(NEW_YORK, 2026, 12, 3, 10, 0)
    due = plan_due(thursday, parse_duration("2 business days"), OFFICE_HOURS, NEW_YORK)
    assert due == local(NEW_YORK, 2026, 12, 7, 10, 0)


def test_a_holiday_closes_the_window_for_that_day() -> None:
    """Thanksgiving 2026-11-26 is skipped: the next opening after Wednesday evening is Friday."""
    calendar = SendCalendar(
        days=WEEKDAYS,
        start_minute=9 * 60,
        end_minute=17 * 60,
        is_closed=closed_dates("US", None, frozenset()),
    )
    wednesday_evening = local(NEW_YORK, 2026, 11, 25, 18, 0)
    friday_9am = local(NEW_YORK, 2026, 11, 27, 9, 0)
    assert next_opening(wednesday_evening, calendar, NEW_YORK) == friday_9am


def test_explicit_days_off_close_the_window() -> None:
    """A company day off works like a public holiday."""
    calendar = SendCalendar(
        days=WEEKDAYS,
        start_minute=9 * 60,
        end_minute=17 * 60,
        is_closed=closed_dates(None, None, frozenset({date(2026, 12, 1)})),
    )
    monday_evening = local(NEW_YORK, 2026, 11, 30, 18, 0)
    assert next_opening(monday_evening, calendar, NEW_YORK) == local(NEW_YORK, 2026, 12, 2, 9, 0)


def test_the_wait_is_applied_before_the_window() -> None:
    """A 4h wait from 15:00 lands at 19:00, which moves to 09:00 the next weekday."""
    friday_3pm = local(NEW_YORK, 2026, 12, 4, 15, 0)
    due = plan_due(friday_3pm, parse_duration("4h"), OFFICE_HOURS, NEW_YORK)
    assert due == local(NEW_YORK, 2026, 12, 7, 9, 0)


def test_without_a_window_the_due_time_is_just_the_wait() -> None:
    """No send_window means any time."""
    start = utc(2026, 12, 5, 3, 17)
    assert plan_due(start, parse_duration("0s"), ANY_TIME, NEW_YORK) == start
    assert plan_due(start, parse_duration("90m"), ANY_TIME, NEW_YORK) == start + timedelta(
        minutes=90
    )


def test_a_window_that_never_opens_is_reported() -> None:
    """Every day a day off: a configuration error, not an endless loop."""
    calendar = SendCalendar(is_closed=lambda _day: True)
    with pytest.raises(ValueError, match="never opens"):
        next_opening(utc(2026, 12, 1, 0, 0), calendar, NEW_YORK)
