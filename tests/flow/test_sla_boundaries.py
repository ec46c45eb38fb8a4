"""SLA verdicts at every boundary, through the real recording path on a virtual clock."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlmodel import Session, col, select

from models.compliance import ComplianceEntry
from testkit.harness import MONDAY_9AM_NY as T0
from testkit.harness import Harness, Harnesses, template
from worker.compliance.report import build_report
from worker.engine.db import transaction

FIRST_TOUCH = """
name: first-touch
trigger: lead.mql
exit_on: [email.replied, meeting.booked]
sla:
  first_touch_within: 1h
steps:
  - id: call
    task: Call {{ lead.email }}
  - id: recap
    email: t/recap
    wait: 2d
"""

WINDOW = """
name: window
trigger: form.submitted
sla:
  min_touches: 2
  within: 1d
steps:
  - id: call
    task: Call {{ lead.email }}
  - id: second-call
    task: Call {{ lead.email }} again
"""

LEAD = "lee@example.com"
SECOND = timedelta(seconds=1)


@pytest.fixture
def h(make_harness: Harnesses) -> Harness:
    return make_harness(
        sequences={"first.yaml": FIRST_TOUCH, "window.yaml": WINDOW},
        templates={"t/recap.j2": template("Recap")},
    )


def verdict(h: Harness) -> tuple[str, str | None, datetime | None]:
    [enrollment] = h.enrollments()
    return str(enrollment.sla_status), enrollment.sla_reason, enrollment.sla_decided_at


def sla_entries(h: Harness) -> list[tuple[str, datetime, str | None]]:
    with Session(h.rt.engine) as session:
        rows = session.exec(
            select(ComplianceEntry)
            .where(col(ComplianceEntry.kind).in_(("sla.met", "sla.breached")))
            .order_by(col(ComplianceEntry.id))
        ).all()
    return [(str(e.kind), e.at, e.detail) for e in rows]


def test_first_touch_exactly_at_the_deadline_meets_it(h: Harness) -> None:
    """Given a 1h first-touch SLA, when the call is logged done at exactly 1h, then it is met."""
    h.event("lead.mql", LEAD)
    h.advance_to(T0 + timedelta(hours=1))
    assert verdict(h)[0] == "pending"
    h.event("task.completed", LEAD, step="call")
    assert verdict(h) == ("met", "touches", T0 + timedelta(hours=1))
    assert sla_entries(h) == [("sla.met", T0 + timedelta(hours=1), "touches")]


def test_one_second_after_the_deadline_is_a_breach_recorded_unseen(h: Harness) -> None:
    """Given a 1h SLA, when the clock passes 1h by a second, the breach is on record at once."""
    h.event("lead.mql", LEAD)
    h.advance_to(T0 + timedelta(hours=1) + SECOND)
    assert verdict(h) == ("breached", "first_touch_late", T0 + timedelta(hours=1))
    assert sla_entries(h) == [("sla.breached", T0 + timedelta(hours=1), "first_touch_late")]
    h.event("task.completed", LEAD, step="call")
    assert verdict(h)[0] == "breached"
    with transaction(h.rt.engine) as session:
        total = build_report(session, team=h.rt.catalog.team).total
    assert (total.breached_first_touch_late, total.touches_manual, total.unworked) == (1, 1, 0)


def test_a_breached_lead_nobody_touched_is_unworked(h: Harness) -> None:
    """Given a breach, when nobody ever touches the lead, then it counts as unworked."""
    h.event("lead.mql", LEAD)
    h.advance_to(T0 + timedelta(hours=3))
    with transaction(h.rt.engine) as session:
        total = build_report(session, team=h.rt.catalog.team).total
    assert (total.breached, total.unworked, total.touches) == (1, 1, 0)


@pytest.mark.parametrize("offset", [timedelta(minutes=59), timedelta(hours=1)])
def test_engaging_before_or_at_the_deadline_meets_it(h: Harness, offset: timedelta) -> None:
    """Given an untouched lead, when they reply by the deadline, then the SLA is met (engaged)."""
    h.event("lead.mql", LEAD)
    h.advance_to(T0 + offset)
    h.event("email.replied", LEAD)
    assert verdict(h) == ("met", "engaged", T0 + offset)


def test_engaging_after_the_deadline_keeps_the_breach(h: Harness) -> None:
    """Given a breach already recorded, when the lead replies later, then it stays breached."""
    h.event("lead.mql", LEAD)
    h.advance_to(T0 + timedelta(hours=2))
    h.event("meeting.booked", LEAD)
    assert verdict(h) == ("breached", "first_touch_late", T0 + timedelta(hours=1))
    assert [kind for kind, _, _ in sla_entries(h)] == ["sla.breached"]


def test_unsubscribing_before_the_deadline_excludes_the_enrollment(h: Harness) -> None:
    """Given an untouched lead, when they unsubscribe before 1h, then the SLA is excluded."""
    h.event("lead.mql", LEAD)
    h.advance_to(T0 + timedelta(minutes=30))
    h.event("lead.unsubscribed", LEAD)
    assert verdict(h) == ("excluded", "lead.unsubscribed", T0 + timedelta(minutes=30))
    assert sla_entries(h) == []
    with transaction(h.rt.engine) as session:
        total = build_report(session, team=h.rt.catalog.team).total
    assert (total.excluded, total.breached, total.compliance_rate) == (1, 0, None)


def test_unsubscribing_after_the_deadline_keeps_the_breach(h: Harness) -> None:
    """Given a passed deadline, when the lead unsubscribes, then the breach stands."""
    h.event("lead.mql", LEAD)
    h.advance_to(T0 + timedelta(hours=1) + SECOND)
    h.event("lead.unsubscribed", LEAD)
    assert verdict(h)[:2] == ("breached", "first_touch_late")


def test_a_logged_manual_touch_is_a_first_touch(h: Harness) -> None:
    """Given a call made outside followup, when it is logged in time, then it meets the SLA."""
    h.event("lead.mql", LEAD)
    h.advance_to(T0 + timedelta(minutes=45))
    h.event("touch.logged", LEAD, detail="called from my mobile")
    assert verdict(h) == ("met", "touches", T0 + timedelta(minutes=45))


def test_manual_touches_count_toward_min_touches_up_to_the_window_edge(h: Harness) -> None:
    """Given 2 touches in 1 day, when a logged call and a task land by exactly 1d, it is met."""
    h.event("form.submitted", LEAD)
    h.advance_to(T0 + timedelta(hours=2))
    h.event("touch.logged", LEAD, detail="voicemail")
    h.advance_to(T0 + timedelta(days=1))
    assert verdict(h)[0] == "pending"
    h.event("task.completed", LEAD, step="call")
    assert verdict(h) == ("met", "touches", T0 + timedelta(days=1))
    with transaction(h.rt.engine) as session:
        total = build_report(session, team=h.rt.catalog.team).total
    assert (total.touches, total.touches_manual, total.touches_automated) == (2, 2, 0)


def test_too_few_touches_one_second_after_the_window(h: Harness) -> None:
    """Given 2 touches in 1 day, when only one is done by 1d + 1s, then it breaches, too few."""
    h.event("form.submitted", LEAD)
    h.advance_to(T0 + timedelta(hours=2))
    h.event("task.completed", LEAD, step="call")
    h.advance_to(T0 + timedelta(days=1) + SECOND)
    assert verdict(h) == ("breached", "too_few_touches", T0 + timedelta(days=1))
    with transaction(h.rt.engine) as session:
        total = build_report(session, team=h.rt.catalog.team).total
    assert (total.breached_too_few_touches, total.unworked) == (1, 0)
