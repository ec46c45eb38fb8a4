"""The arithmetic of sending rates: a ramp's cap per day, which limits refuse a send and when
each lets the next one through; and team.yaml's ramp and throttles validated at file:line."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from testkit.harness import write_files
from worker.specs.catalog import CatalogError, load_catalog
from worker.specs.rendering import Renderer
from worker.specs.throttles import Counter, Limits, RampSpec, hour_of, refusals

NOW = datetime(2026, 11, 30, 14, 25, tzinfo=UTC)
MIDNIGHT = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
FRESH = Counter(used=0, hour_start=None, hour_used=0, last_sent_at=None)


@pytest.mark.parametrize(
    ("days_in", "cap"),
    [(0, 10), (1, 15), (2, 20), (7, 45), (8, 50), (9, 50), (300, 50), (-3, 10)],
)
def test_a_ramp_climbs_by_its_step_each_day_and_stops_at_the_daily_limit(
    days_in: int, cap: int
) -> None:
    """start 10, +5 a day, up to 50: the smaller of the ramp and the limit (before day one:
    the start)."""
    ramp = RampSpec(start=10, step=5)
    first = date(2026, 11, 1)
    assert ramp.cap(day=first + timedelta(days=days_in), first_day=first, limit=50) == cap


def test_a_ramp_that_starts_above_the_limit_is_the_limit() -> None:
    """The limit always wins."""
    assert (
        RampSpec(start=80, step=0).cap(day=date(2026, 1, 1), first_day=date(2026, 1, 1), limit=50)
        == 50
    )


def test_the_hour_a_send_counts_in_is_the_utc_clock_hour() -> None:
    """Hourly limits are per clock hour, whatever the mailbox's zone."""
    assert hour_of(NOW) == datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


def test_under_every_limit_nothing_refuses() -> None:
    """The control case."""
    limits = Limits(cap=10, hourly=3, gap=timedelta(minutes=5))
    counter = Counter(
        used=9, hour_start=hour_of(NOW), hour_used=2, last_sent_at=NOW - timedelta(minutes=5)
    )
    assert refusals(counter, limits, NOW, MIDNIGHT) == []


def test_a_full_day_waits_for_the_next_day() -> None:
    """At the cap the next slot is the day's end."""
    counter = Counter(used=10, hour_start=None, hour_used=0, last_sent_at=None)
    assert refusals(counter, Limits(cap=10), NOW, MIDNIGHT) == [(MIDNIGHT, "10 today")]


def test_a_full_hour_waits_for_the_next_clock_hour_and_a_past_hour_does_not_count() -> None:
    """hour_used counts only within its own hour."""
    full = Counter(used=3, hour_start=hour_of(NOW), hour_used=3, last_sent_at=None)
    at_three = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    assert refusals(full, Limits(hourly=3), NOW, MIDNIGHT) == [(at_three, "3 an hour")]
    stale = Counter(
        used=3, hour_start=hour_of(NOW) - timedelta(hours=1), hour_used=3, last_sent_at=None
    )
    assert refusals(stale, Limits(hourly=3), NOW, MIDNIGHT) == []


def test_a_gap_waits_until_it_has_passed_since_the_last_send() -> None:
    """min_gap counts from the last send."""
    last = NOW - timedelta(minutes=2)
    counter = Counter(used=1, hour_start=None, hour_used=0, last_sent_at=last)
    found = refusals(counter, Limits(gap=timedelta(minutes=10)), NOW, MIDNIGHT)
    assert found == [(last + timedelta(minutes=10), "min_gap 600s")]


def test_when_several_limits_refuse_the_latest_reopening_is_the_one_to_wait_for() -> None:
    """A full day and a full hour: the day's end comes later, so max() of them is the day's."""
    counter = Counter(used=10, hour_start=hour_of(NOW), hour_used=3, last_sent_at=NOW)
    found = refusals(counter, Limits(cap=10, hourly=3, gap=timedelta(minutes=1)), NOW, MIDNIGHT)
    assert len(found) == 3
    assert max(found) == (MIDNIGHT, "10 today")


SEQUENCE = "name: s\ntrigger: lead.mql\nsteps:\n  - id: a\n    email: t/a\n"
TEMPLATE = "{% block subject %}Hi{% endblock %}{% block text %}{{ unsubscribe_url }}{% endblock %}"


@pytest.mark.parametrize(
    ("team", "line", "fragment"),
    [
        (
            "owners:\n  - email: a@acme.test\n    ramp:\n      start: 10\n",
            2,
            "a ramp climbs to daily_limit; set daily_limit too",
        ),
        (
            "owners:\n  - email: a@acme.test\n    daily_limit: 50\n    ramp:\n      start: 0\n",
            5,
            "greater than or equal to 1",
        ),
        ("owners:\n  - email: a@acme.test\n    hourly_limit: 0\n", 3, "hourly_limit"),
        ("throttles:\n  - domain: gmail.com\n", 2, "give hourly_limit and/or daily_limit"),
        ("throttles:\n  - domain: not a domain\n    hourly_limit: 5\n", 2, "domain.0"),
        (
            "throttles:\n  - domain: [gmail.com, googlemail.com]\n    hourly_limit: 5\n"
            "  - domain: GMAIL.com\n    daily_limit: 9\n",
            1,
            "domain gmail.com is listed twice",
        ),
    ],
)
def test_a_bad_ramp_or_throttle_names_team_yaml_and_the_line(
    tmp_path: Path, team: str, line: int, fragment: str
) -> None:
    """The folder is refused before anything runs, at the line of the mistake."""
    write_files(tmp_path / "sequences", {"s.yaml": SEQUENCE, "team.yaml": team})
    write_files(tmp_path / "templates", {"t/a.j2": TEMPLATE})
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path / "sequences", Renderer(tmp_path / "templates"))
    [error] = caught.value.errors
    assert (error.path.name, error.line) == ("team.yaml", line), str(error)
    assert fragment in error.problem


def test_a_throttle_group_counts_its_domains_together(tmp_path: Path) -> None:
    """gmail.com and googlemail.com share one count, kept under the first name."""
    team = "throttles:\n  - domain: [gmail.com, GoogleMail.com]\n    hourly_limit: 5\n"
    write_files(tmp_path / "sequences", {"s.yaml": SEQUENCE, "team.yaml": team})
    write_files(tmp_path / "templates", {"t/a.j2": TEMPLATE})
    catalog = load_catalog(tmp_path / "sequences", Renderer(tmp_path / "templates"))
    throttle = catalog.team.throttle_for("ana@googlemail.com")
    assert throttle is not None and throttle.key == "gmail.com"
    assert catalog.team.throttle_for("ana@outlook.com") is None
