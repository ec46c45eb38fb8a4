"""Records on PostgreSQL: what another transaction writes to an enrollment while a touch of it is
recorded (an exit on a reply, a logged manual touch) is kept, never written over from a stale
read of it."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from models.touch import TouchStatus
from testkit.harness import ONE_EMAIL_SEQUENCE, Harness, Harnesses, template
from tests.support.postgres_locks import until_one_waits_on_a_lock
from worker.engine.db import make_engine
from worker.flow.delivery import deliver_touches
from worker.flow.delivery_records import Delivery

pytestmark = pytest.mark.integration

EXIT = "UPDATE enrollment SET status = 'exited', exit_reason = 'email.replied', ended_at = now()"
MANUAL_TOUCH = (
    "UPDATE enrollment SET touches_completed = touches_completed + 1,"
    " touches_manual = touches_manual + 1"
)


def queued_touch(make_harness: Harnesses, postgres_url: str) -> tuple[Harness, int]:
    """A one-email enrollment on PostgreSQL whose touch the scheduler claimed."""
    h = make_harness(
        sequences={"s.yaml": ONE_EMAIL_SEQUENCE},
        templates={"t/one.j2": template("One")},
        database_url=postgres_url,
    )
    h.rt.enqueue_touch, h.rt.enqueue_touches = (lambda _id: None), (lambda _ids: None)
    h.event("lead.mql", "ana@example.com")
    h.tick()
    [touch] = h.touches(status=TouchStatus.QUEUED)
    assert touch.id is not None
    return h, touch.id


def delivered_while_another_transaction_writes(
    h: Harness, touch_id: int, other_write: str
) -> Delivery:
    """The touch delivered while another transaction holds `other_write` on its enrollment
    uncommitted; it commits once the record waits for the row."""
    outcomes: dict[int, Delivery] = {}
    others = make_engine(h.rt.settings.database_url)  # not the pool the worker needs
    with others.connect() as other:
        other.execute(text(other_write))  # the row lock, held until the commit below
        worker = threading.Thread(target=lambda: outcomes.update(deliver_touches(h.rt, [touch_id])))
        worker.start()
        try:
            until_one_waits_on_a_lock(others, worker, "the record")  # for the enrollment
        finally:
            other.commit()
            worker.join(timeout=60)
    others.dispose()
    return outcomes[touch_id]


@pytest.mark.parametrize(
    ("other_write", "status", "touches_completed"),
    [(EXIT, "exited", 1), (MANUAL_TOUCH, "completed", 2)],
    ids=["exit", "manual-touch"],
)
def test_a_record_keeps_what_another_transaction_wrote_to_the_enrollment_meanwhile(
    make_harness: Harnesses,
    postgres_url: str,
    other_write: str,
    status: str,
    touches_completed: int,
) -> None:
    """Given a one-email enrollment whose touch is being sent, when another transaction has
    exited the enrollment (or counted a manual touch) and commits while the record waits for
    the row, then the record works from what it committed: an exit stays an exit (not
    completed), the manual touch stays counted, and the email is recorded sent once."""
    h, touch_id = queued_touch(make_harness, postgres_url)
    delivery = delivered_while_another_transaction_writes(h, touch_id, other_write)
    assert str(delivery.outcome) == "sent"
    [enrollment] = h.enrollments()
    assert (enrollment.status, enrollment.touches_completed) == (status, touches_completed)
    [touch] = h.touches()
    assert touch.status == TouchStatus.SENT
    assert len(h.sent) == 1
