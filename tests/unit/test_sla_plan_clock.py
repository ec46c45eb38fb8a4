"""`followup sla plan` against business hours: sequence timelines and the reps' working hours."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from testkit.harness import template, write_files
from worker.compliance.clock_check import clock_check, next_monday, reps_working_hours
from worker.compliance.plan import plan_sla
from worker.specs.catalog import Catalog, load_catalog
from worker.specs.rendering import Renderer

SEQUENCE = """
name: tight
trigger: lead.mql
send_window:
  days: [mon, tue, wed, thu, fri]
  hours: "09:00-17:00"
  timezone: America/New_York
sla:
  clock: business_hours
  min_touches: 3
  within: 2d
steps:
  - id: one
    email: t/x
  - id: two
    email: t/x
    wait: 1 business days
  - id: three
    email: t/x
    wait: 2 business days
"""
TEAM = """
owners:
  - email: ana@acme.test
    working_hours: {hours: "09:00-17:00", timezone: America/New_York}
  - email: ben@acme.test
    working_hours: {days: [mon, tue, wed, thu], hours: "08:00-12:00", timezone: Europe/Madrid}
sla_plan:
  revenue_goal: 100000
  marketing_share: 0.5
  average_deal_size: 1000
  close_rate: 0.1
  reps: 2
  minutes_per_attempt: 10
"""
NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)


def loaded(tmp_path: Path) -> tuple[Catalog, Renderer]:
    write_files(tmp_path / "sequences", {"tight.yaml": SEQUENCE, "team.yaml": TEAM})
    write_files(tmp_path / "templates", {"t/x.j2": template("X")})
    renderer = Renderer(tmp_path / "templates")
    return load_catalog(tmp_path / "sequences", renderer), renderer


def shift_hours(
    start: datetime, days: float, open_days: set[int], shift: tuple[int, int], zone: str
) -> float:
    """The slow count: each open day's local shift, clipped to [start, start + days)."""
    end, total = start + timedelta(days=days), 0.0
    day = start.date() - timedelta(days=1)
    while day <= end.date():
        if day.weekday() in open_days:
            opens = datetime.combine(day, time(shift[0]), tzinfo=ZoneInfo(zone))
            closes = datetime.combine(day, time(shift[1]), tzinfo=ZoneInfo(zone))
            overlap = min(closes, end) - max(opens, start)
            total += max(overlap.total_seconds(), 0) / 3600
        day += timedelta(days=1)
    return total


def test_a_timeline_longer_than_its_window_is_reported(tmp_path: Path) -> None:
    """3 touches promised within 2 working days, but the third waits 3 days: 2 of 3 fit."""
    catalog, renderer = loaded(tmp_path)
    assert catalog.team.sla_plan is not None
    plan = plan_sla(catalog.team.sla_plan, promised_attempts=3)
    check = clock_check(plan, catalog.team, list(catalog.sequences.values()), renderer, NOW)
    [fit] = check.sequences
    assert (fit.sequence, fit.planned_in_time, fit.promised, fit.fits) == ("tight", 2, 3, False)


def test_the_reps_hours_and_the_touches_per_lead_they_hold(tmp_path: Path) -> None:
    """Ana works 8 h on weekdays, Ben 4 h Monday to Thursday: their month averaged, then the
    touches per lead at 10 minutes on the plan's leads per rep."""
    catalog, renderer = loaded(tmp_path)
    start = next_monday(NOW)
    assert start == datetime(2026, 12, 7, tzinfo=UTC)
    month = 365.25 / 12
    ana = shift_hours(start, month, {0, 1, 2, 3, 4}, (9, 17), "America/New_York")
    ben = shift_hours(start, month, {0, 1, 2, 3}, (8, 12), "Europe/Madrid")
    hours = reps_working_hours(catalog.team, "month", start)
    assert hours == round((ana + ben) / 2, 1)
    assert catalog.team.sla_plan is not None
    plan = plan_sla(catalog.team.sla_plan, promised_attempts=3)
    check = clock_check(plan, catalog.team, list(catalog.sequences.values()), renderer, NOW)
    assert plan.capacity is not None and check.working_hours_per_rep == hours
    per_lead = plan.capacity.leads_per_rep * 10
    assert check.touches_per_lead_that_fit == int(hours * 60 // per_lead)
