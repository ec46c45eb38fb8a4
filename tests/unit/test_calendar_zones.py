"""Pinned time-zone cases for windows and waits: DST gaps and folds, odd offsets, skipped days."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from tests.support.times import utc
from worker.specs.calendar import ANY_TIME, WEEKDAYS, SendCalendar, next_opening, plan_due
from worker.specs.durations import parse_duration

NINE_TO_FIVE = SendCalendar(days=WEEKDAYS, start_minute=9 * 60, end_minute=17 * 60)


def test_new_york_spring_forward_moves_a_missing_local_time_forward() -> None:
    """A day after 02:30 on 2025-03-08 is 02:30 on the 9th, which does not exist: 03:30 EDT."""
    zone = ZoneInfo("America/New_York")
    due = plan_due(utc(2025, 3, 8, 7, 30), parse_duration("1d"), ANY_TIME, zone)
    assert due == utc(2025, 3, 9, 7, 30)
    assert due.astimezone(zone).strftime("%H:%M %Z") == "03:30 EDT"


def test_new_york_fall_back_takes_the_first_of_an_ambiguous_time() -> None:
    """01:30 on 2025-11-02 happens twice; a day after 01:30 EDT on the 1st is the first (EDT)."""
    zone = ZoneInfo("America/New_York")
    due = plan_due(utc(2025, 11, 1, 5, 30), parse_duration("1d"), ANY_TIME, zone)
    assert due == utc(2025, 11, 2, 5, 30)
    assert due.astimezone(zone).strftime("%H:%M %Z") == "01:30 EDT"


def test_lord_howe_half_hour_dst_gap() -> None:
    """Lord Howe springs forward by 30 minutes: 02:15 on 2025-10-05 becomes 02:45 (+11)."""
    zone = ZoneInfo("Australia/Lord_Howe")
    start = datetime(2025, 10, 4, 2, 15, tzinfo=zone).astimezone(UTC)
    due = plan_due(start, parse_duration("1d"), ANY_TIME, zone)
    assert due.astimezone(zone).strftime("%Y-%m-%d %H:%M") == "2025-10-05 02:45"
    assert due == utc(2025, 10, 4, 15, 45)  # 24 real hours: the skipped half hour is not waited


def test_apia_skipped_friday_2011_12_30_is_never_a_send_day() -> None:
    """Samoa skipped 2011-12-30: after Thursday's close the next weekday opening is Monday."""
    zone = ZoneInfo("Pacific/Apia")
    thursday_evening = datetime(2011, 12, 29, 18, 0, tzinfo=zone).astimezone(UTC)
    opening = next_opening(thursday_evening, NINE_TO_FIVE, zone)
    assert opening.astimezone(zone).strftime("%a %Y-%m-%d %H:%M") == "Mon 2012-01-02 09:00"
    assert opening == utc(2012, 1, 1, 19, 0)


def test_apia_one_day_wait_over_the_skipped_date_lands_inside_the_window() -> None:
    """A wait of 1d from Thursday 10:00 crosses the missing Friday and lands on Monday 09:00."""
    zone = ZoneInfo("Pacific/Apia")
    start = datetime(2011, 12, 29, 10, 0, tzinfo=zone).astimezone(UTC)
    due = plan_due(start, parse_duration("1d"), NINE_TO_FIVE, zone)
    assert due.astimezone(zone).strftime("%a %Y-%m-%d %H:%M") == "Mon 2012-01-02 09:00"


def test_business_days_skip_a_holiday_and_a_weekend() -> None:
    """2 business days from Wednesday before Thanksgiving 2026 (US): Fri 27 and Mon 30."""
    from worker.specs.calendar import closed_dates

    calendar = SendCalendar(
        days=WEEKDAYS,
        start_minute=9 * 60,
        end_minute=17 * 60,
        is_closed=closed_dates("US", None, frozenset()),
    )
    zone = ZoneInfo("America/New_York")
    wednesday = datetime(2026, 11, 25, 10, 0, tzinfo=zone).astimezone(UTC)
    due = plan_due(wednesday, parse_duration("2 business days"), calendar, zone)
    assert due.astimezone(zone).strftime("%a %Y-%m-%d %H:%M") == "Mon 2026-11-30 10:00"
    one = plan_due(wednesday, parse_duration("1 business day"), calendar, zone)
    assert one.astimezone(zone).strftime("%a %Y-%m-%d") == "Fri 2026-11-27"
