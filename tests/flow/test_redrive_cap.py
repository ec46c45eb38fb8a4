"""Re-drive gives up (issue 9, defect 2): a touch whose send is lost mid-way every time (a hung
send interrupted by the time limit, a worker killed) fails after MAX_REDRIVES re-drives, with the
reason; the others flow (fakes, virtual clock)."""

from __future__ import annotations

from datetime import timedelta

from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import TimeLimitExceeded
from sqlmodel import Session, select

from models.compliance import ComplianceEntry
from testkit.harness import Harnesses, template
from worker.engine.tunables import MAX_REDRIVES, SENDING_LEASE
from worker.mail import MemoryMailer, OutgoingEmail

POISON, FINE = "hangs@example.com", "fine@example.com"
SEQUENCE = """
name: s
trigger: lead.mql
steps:
  - id: one
    email: t/one
  - id: two
    email: t/one
    wait: 1d
"""


class HangingMailer(MemoryMailer):
    """Every send to POISON hangs until dramatiq's time limit interrupts it."""

    def send(self, email: OutgoingEmail) -> None:
        if email.to == POISON:
            self.attempts.append(email)
            raise TimeLimitExceeded()
        super().send(email)


def test_a_send_lost_every_time_fails_after_the_last_redrive(make_harness: Harnesses) -> None:
    """Given a send that never returns for one lead, when its sending lease runs out again and
    again, then after MAX_REDRIVES re-drives it ends failed with the reason (logged, the next
    step planned), while the other lead's touch is sent once."""
    mailer = HangingMailer()
    h = make_harness(
        sequences={"s.yaml": SEQUENCE}, templates={"t/one.j2": template("One")}, mailer=mailer
    )
    broker = h.simulation.broker
    assert isinstance(broker, StubBroker)
    broker.fail_fast_default = False  # the interrupted actor is the point, not a test error
    h.event("lead.mql", POISON)
    h.event("lead.mql", FINE)
    h.tick()
    for _ in range(MAX_REDRIVES + 1):
        h.advance(SENDING_LEASE + timedelta(seconds=1))
    poison, fine = (h.touches(step="one", lead_id=n)[0] for n in (1, 2))
    reason = f"abandoned after {MAX_REDRIVES} re-drives (worker died or timed out while sending)"
    assert (poison.status, poison.detail, poison.lease_until) == ("failed", reason, None)
    assert (poison.attempts, poison.redrives) == (MAX_REDRIVES + 1, MAX_REDRIVES)
    assert (fine.status, fine.attempts, fine.redrives) == ("sent", 1, 0)
    assert [m.to for m in mailer.sent] == [FINE]
    with Session(h.rt.engine) as session:
        failed = session.exec(
            select(ComplianceEntry).where(ComplianceEntry.kind == "touch.failed")
        ).one()
    assert (failed.lead_email, failed.detail) == (POISON, reason)
    assert [t.status for t in h.touches(step="two")] == ["scheduled", "scheduled"]


def test_the_actors_time_limit_is_shorter_than_the_sending_lease(make_harness: Harnesses) -> None:
    """The send actor is interrupted before its touch's lease runs out."""
    h = make_harness(sequences={"s.yaml": SEQUENCE}, templates={"t/one.j2": template("One")})
    limit_ms = h.actors.send_touch.options["time_limit"]
    assert 0 < limit_ms < SENDING_LEASE.total_seconds() * 1000
