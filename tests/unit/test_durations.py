"""`wait:` and SLA durations: every accepted form and the ones that are refused."""

from __future__ import annotations

from datetime import timedelta

import pytest

from worker.specs.durations import Duration, parse_duration


@pytest.mark.parametrize(
    ("text", "amount", "unit", "length"),
    [
        ("0s", 0, "s", timedelta(0)),
        ("30s", 30, "s", timedelta(seconds=30)),
        ("15m", 15, "m", timedelta(minutes=15)),
        ("4h", 4, "h", timedelta(hours=4)),
        (" 4H ", 4, "h", timedelta(hours=4)),
        ("4 h", 4, "h", timedelta(hours=4)),
    ],
)
def test_fixed_units_have_an_exact_length(
    text: str, amount: int, unit: str, length: timedelta
) -> None:
    """Seconds, minutes and hours are absolute lengths of time."""
    duration = parse_duration(text)
    assert (duration.amount, duration.unit) == (amount, unit)
    assert not duration.is_calendar
    assert duration.fixed == length


@pytest.mark.parametrize(
    ("text", "amount", "unit"),
    [
        ("2d", 2, "d"),
        ("1w", 1, "w"),
        ("3 business days", 3, "business"),
        ("1 business day", 1, "business"),
        ("2 Business Days", 2, "business"),
        ("5 business_days", 5, "business"),
        ("2business days", 2, "business"),
    ],
)
def test_day_units_are_calendar_durations(text: str, amount: int, unit: str) -> None:
    """Days, weeks and business days count local calendar days, so they have no fixed length."""
    duration = parse_duration(text)
    assert (duration.amount, duration.unit) == (amount, unit)
    assert duration.is_calendar
    with pytest.raises(ValueError, match="no fixed length"):
        _ = duration.fixed


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("30s", "30s"),
        ("2d", "2d"),
        ("1 business days", "1 business day"),
        ("3 business day", "3 business days"),
    ],
)
def test_a_duration_prints_in_its_canonical_form(text: str, shown: str) -> None:
    """The canonical text is what the pinned sequence definition stores."""
    assert str(parse_duration(text)) == shown
    assert parse_duration(shown) == parse_duration(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "4",
        "4 hours",
        "1.5h",
        "-1d",
        "+1d",
        "4hh",
        "h",
        "business days",
        "1y",
        "3 weekdays",
        "1d 2h",
        "PT4H",
    ],
)
def test_bad_forms_are_refused_naming_the_accepted_ones(text: str) -> None:
    """A typo is reported with the forms that would have been accepted."""
    with pytest.raises(ValueError, match=r"bad duration .*<n>s, <n>m, <n>h, <n>d, <n>w"):
        parse_duration(text)


def test_a_bare_number_is_not_a_duration() -> None:
    """YAML `wait: 5` arrives as an int; without a unit it is ambiguous and refused."""
    with pytest.raises(ValueError, match="bad duration 5"):
        parse_duration(5)


def test_an_implausibly_long_duration_is_refused() -> None:
    """Ten thousand units is the ceiling; more is a typo, not a plan."""
    assert parse_duration("10000d") == Duration(10_000, "d")
    with pytest.raises(ValueError, match="implausibly long"):
        parse_duration("10001d")
