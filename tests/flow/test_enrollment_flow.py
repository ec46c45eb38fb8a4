"""Events -> enrollments -> touches in order, and the events that stop them (virtual clock)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, func, select

from models.event import Event
from models.lead import Lead
from testkit.harness import Harness, Harnesses, done_at, template

LEAD = "ana@example.com"
MQL = """
name: mql
trigger: lead.mql
exit_on: [email.replied, meeting.booked]
sla:
  first_touch_within: 1h
  min_touches: 3
  within: 3d
steps:
  - id: intro
    email: t/intro
  - id: bump
    email: t/bump
    wait: 2h
  - id: last
    email: t/last
    wait: 1d
"""
WEBINAR = """
name: webinar
trigger: form.submitted
steps:
  - id: thanks
    email: t/thanks
  - id: call
    task: Call {{ lead.first_name | default(lead.email) }}
    wait: 1h
  - id: recording
    email: t/recording
    wait: 1d
"""
TEMPLATES = {
    f"t/{name}.j2": template(name.title())
    for name in ("intro", "bump", "last", "thanks", "recording")
}


@pytest.fixture
def h(make_harness: Harnesses) -> Harness:
    return make_harness(sequences={"mql.yaml": MQL, "webinar.yaml": WEBINAR}, templates=TEMPLATES)


def subjects(h: Harness, email: str = LEAD) -> list[str]:
    return [m.subject for m in h.mailer.sent_to(email)]


def test_an_event_enrolls_the_lead_and_plans_the_first_touch(h: Harness) -> None:
    """Given an mql sequence, when lead.mql arrives, then the lead is stored, enrolled, and
    the first touch is due at once."""
    outcome = h.event(
        "lead.mql", "Ana@Example.com", lead={"first_name": "Ana", "owner": "rep@acme.test"}
    )
    assert outcome.enrolled == ["mql"] and not outcome.ignored
    [enrollment] = h.enrollments()
    assert (enrollment.sequence, enrollment.status, enrollment.owner) == (
        "mql",
        "active",
        "rep@acme.test",
    )
    assert enrollment.enrolled_at == h.clock.now()
    [touch] = h.touches()
    assert (touch.step, touch.status, touch.due_at) == ("intro", "scheduled", h.clock.now())
    with Session(h.rt.engine) as session:
        lead = session.exec(select(Lead)).one()
    assert (lead.email, lead.first_name) == (LEAD, "Ana")


def test_an_event_no_sequence_triggers_on_enrolls_nobody(h: Harness) -> None:
    """Given no sequence triggered by `lead.created`, when it arrives, nothing is planned."""
    outcome = h.event("lead.created", LEAD)
    assert outcome.enrolled == [] and h.enrollments() == [] and h.touches() == []


def test_three_steps_go_out_in_order_with_their_waits(h: Harness) -> None:
    """Given waits 0s, 2h, 1d, when time passes, then the emails go at +0, +2h and +1d2h,
    each wait counted from the previous send."""
    start = h.clock.now()
    h.event("lead.mql", LEAD)
    h.advance(timedelta(hours=1))
    assert subjects(h) == ["Intro"]
    h.advance(timedelta(days=3))
    assert subjects(h) == ["Intro", "Bump", "Last"]
    sent = [(t.step, done_at(t) - start) for t in h.touches(status="sent")]
    assert sent == [
        ("intro", timedelta(0)),
        ("bump", timedelta(hours=2)),
        ("last", timedelta(days=1, hours=2)),
    ]
    [enrollment] = h.enrollments()
    assert (enrollment.status, enrollment.sla_status, enrollment.touches_completed) == (
        "completed",
        "met",
        3,
    )


def test_a_reply_after_step_one_stops_steps_two_and_three(h: Harness) -> None:
    """Given step 1 sent, when the lead replies, then step 2 is cancelled, step 3 never planned,
    the enrollment exits, and the SLA is met because the lead engaged before any deadline."""
    h.event("lead.mql", LEAD)
    h.advance(timedelta(minutes=30))
    h.event("email.replied", LEAD)
    h.advance(timedelta(days=5))
    assert subjects(h) == ["Intro"]
    assert [(t.step, t.status, t.detail) for t in h.touches()] == [
        ("intro", "sent", None),
        ("bump", "cancelled", "exited: email.replied"),
    ]
    [enrollment] = h.enrollments()
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "email.replied")
    assert (enrollment.sla_status, enrollment.sla_reason) == ("met", "engaged")


def test_an_unsubscribe_stops_everything_and_suppresses_the_address(h: Harness) -> None:
    """Given a lead in two sequences, when it unsubscribes, then both exit, pending touches are
    cancelled, the SLA is excluded, and later triggers never enroll or mail it again."""
    h.event("lead.mql", LEAD)
    h.event("form.submitted", LEAD)
    h.advance(timedelta(minutes=10))
    assert sorted(subjects(h)) == ["Intro", "Thanks"]
    outcome = h.event("lead.unsubscribed", LEAD)
    assert outcome.suppressed and sorted(outcome.exited) == ["mql", "webinar"]
    assert {t.status for t in h.touches() if t.step in ("bump", "call")} == {"cancelled"}
    assert {(e.status, e.exit_reason) for e in h.enrollments()} == {("exited", "lead.unsubscribed")}
    assert {e.sla_status for e in h.enrollments()} == {"none", "excluded"}

    again = h.event("lead.mql", LEAD, id="mql-again")
    assert again.enrolled == [] and "suppressed" in again.ignored[0]
    h.advance(timedelta(days=10))
    assert sorted(subjects(h)) == ["Intro", "Thanks"]
    with Session(h.rt.engine) as session:
        lead = session.exec(select(Lead)).one()
    assert lead.suppressed_reason == "lead.unsubscribed"


def test_the_same_event_id_twice_enrolls_once(h: Harness) -> None:
    """Given event id crm-1 processed, when it arrives again, then it is a duplicate no-op."""
    first = h.event("lead.mql", LEAD, id="crm-1")
    second = h.event("lead.mql", LEAD, id="crm-1", lead={"first_name": "Changed"})
    assert first.enrolled == ["mql"] and second.duplicate and second.enrolled == []
    h.advance(timedelta(hours=1))
    assert len(h.enrollments()) == 1 and subjects(h) == ["Intro"]
    with Session(h.rt.engine) as session:
        assert session.exec(select(func.count()).select_from(Event)).one() == 1
        assert session.exec(select(Lead.first_name)).one() is None


def test_task_completed_completes_the_open_task_and_the_next_wait_starts_then(
    h: Harness,
) -> None:
    """Given a call task after the thanks email, when the rep completes it 5h later, then it
    counts as a touch and the 1d wait of the next step starts at the completion."""
    start = h.clock.now()
    h.event("form.submitted", LEAD, lead={"first_name": "Ana", "owner": "rep@acme.test"})
    h.advance(timedelta(hours=5))
    [_, task] = h.touches()
    assert (task.step, task.kind, task.status) == ("call", "task", "open")
    assert task.due_at == start + timedelta(hours=1)
    assert subjects(h) == ["Thanks"]

    outcome = h.event("task.completed", LEAD, step="call")
    assert outcome.completed_tasks == 1
    h.advance(timedelta(days=2))
    assert subjects(h) == ["Thanks", "Recording"]
    by_step = {t.step: t for t in h.touches()}
    assert by_step["call"].status == "done"
    assert by_step["call"].completed_at == start + timedelta(hours=5)
    assert by_step["recording"].completed_at == start + timedelta(days=1, hours=5)
    [enrollment] = h.enrollments()
    assert (enrollment.touches_completed, enrollment.status) == (3, "completed")


def test_task_completed_for_another_step_completes_nothing(h: Harness) -> None:
    """A completion naming a step that is not open changes nothing."""
    h.event("form.submitted", LEAD)
    h.advance(timedelta(hours=2))
    assert h.event("task.completed", LEAD, step="no-such-step").completed_tasks == 0
    assert [t.status for t in h.touches()] == ["sent", "open"]
