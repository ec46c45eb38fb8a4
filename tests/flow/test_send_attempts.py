"""Send attempts (issue 9, defect 1): only a send really tried counts, and a retry keeps to the
send window (fakes, virtual clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from models.enrollment import Enrollment, EnrollmentStatus
from testkit.harness import Harness, Harnesses, template
from worker.engine.db import transaction
from worker.flow.scheduling import claim_due
from worker.mail import TransientSendError

LEAD = "ana@example.com"
SEQUENCE = """
name: s
trigger: lead.mql
exit_on: [email.replied]
send_window:
  days: [mon, tue, wed, thu, fri]
  hours: "09:00-17:00"
  timezone: UTC
steps:
  - id: one
    email: t/one
"""
MONDAY_4PM = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
TUESDAY_9AM = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def build(make_harness: Harnesses, start: datetime = MONDAY_4PM) -> Harness:
    return make_harness(
        sequences={"s.yaml": SEQUENCE}, templates={"t/one.j2": template("One")}, start=start
    )


def claim_and_deliver(h: Harness) -> int:
    """Claim the due touch, then hand its id to a worker (after the test changed the world)."""
    with transaction(h.rt.engine) as session:
        [touch_id] = claim_due(session, now=h.clock.now()).ids
    return touch_id


def test_a_retry_that_would_land_after_the_window_waits_for_the_next_opening(
    make_harness: Harnesses,
) -> None:
    """Given a 9-17 UTC window and a 4xx a few seconds before 17:00, when the backoff would land
    after 17:00, then the retry is due at Tuesday 09:00 (not at 17:00:30) and goes then."""
    h = build(make_harness, start=MONDAY_4PM + timedelta(minutes=59, seconds=59))
    h.mailer.fail_next(TransientSendError("451 4.3.0 try later"))
    h.event("lead.mql", LEAD)
    h.tick()
    [touch] = h.touches()
    assert (touch.status, touch.attempts, touch.due_at) == ("scheduled", 1, TUESDAY_9AM)
    h.advance(timedelta(hours=17))
    [touch] = h.touches()
    assert (touch.status, touch.attempts, touch.completed_at) == ("sent", 2, TUESDAY_9AM)


def test_a_touch_picked_up_outside_the_window_is_deferred_without_an_attempt(
    make_harness: Harnesses,
) -> None:
    """Given a claimed touch whose worker picks it up after 17:00, it is deferred to the next
    opening with 0 attempts, and sent then as attempt 1."""
    h = build(make_harness)
    h.event("lead.mql", LEAD)
    touch_id = claim_and_deliver(h)
    h.clock.move_to(MONDAY_4PM + timedelta(hours=2))
    h.actors.send_touch.send(touch_id)
    h.drain()
    [touch] = h.touches()
    assert (touch.status, touch.attempts, touch.due_at) == ("deferred", 0, TUESDAY_9AM)
    h.advance_to(TUESDAY_9AM)
    [touch] = h.touches()
    assert (touch.status, touch.attempts) == ("sent", 1)


def test_a_pause_hold_and_a_cancel_use_no_attempt(make_harness: Harnesses) -> None:
    """Given two queued touches, when one enrollment is paused and the other lead replies before
    a worker picks them up, then one is held and one cancelled, both with 0 attempts."""
    h = build(make_harness)
    h.event("lead.mql", LEAD)
    h.event("lead.mql", "ben@example.com")
    with transaction(h.rt.engine) as session:
        ids = claim_due(session, now=h.clock.now()).ids
        first = session.exec(select(Enrollment).order_by(Enrollment.id)).first()  # type: ignore[arg-type]  # an int column orders
        assert first is not None
        first.status = EnrollmentStatus.PAUSED  # behind the engine's back: the worker re-checks
        session.add(first)
    h.event("email.replied", "ben@example.com")
    for touch_id in ids:
        h.actors.send_touch.send(touch_id)
    h.drain()
    assert [(t.status, t.attempts) for t in h.touches()] == [("held", 0), ("cancelled", 0)]
    assert h.sent == []


def test_touches_failed_together_by_an_outage_come_back_at_different_times(
    make_harness: Harnesses,
) -> None:
    """Given 20 touches refused at once by an SMTP server that is down, their retries are
    spread over 30-60s (jitter), not all due at the same instant."""
    h = build(make_harness)
    h.mailer.fail_next(TransientSendError("421 4.3.2 service shutting down", 421), times=20)
    for n in range(20):
        h.event("lead.mql", f"lead{n}@example.com")
    h.tick()
    retries = [t.due_at for t in h.touches()]
    assert all(t.status == "scheduled" for t in h.touches())
    assert len(set(retries)) > 10
    assert max(retries) - min(retries) >= timedelta(seconds=10)
    assert all(
        MONDAY_4PM + timedelta(seconds=30) <= d <= MONDAY_4PM + timedelta(seconds=60)
        for d in retries
    )
