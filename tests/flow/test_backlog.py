"""A large backlog drains at the workers' pace (issue 9, defect 6): the scheduler keeps no more
than MAX_IN_FLIGHT touches queued or sending, so ids never pile up in the broker past their
lease and nothing is re-driven and enqueued twice (fake broker queue, virtual clock)."""

from __future__ import annotations

from collections import Counter, deque
from datetime import timedelta

import pytest
from sqlalchemy import insert, update
from sqlmodel import col, func, select

from models.touch import Touch, TouchKind, TouchStatus
from testkit.harness import ONE_EMAIL_SEQUENCE, Harness, Harnesses, template
from worker.engine.db import transaction
from worker.engine.scheduler_loop import tick
from worker.engine.settings import ConfigError, Settings
from worker.engine.tunables import MAX_IN_FLIGHT, QUEUED_LEASE

BACKLOG, CAP, PER_TICK = 100_000, 4_000, 2_000  # workers send PER_TICK every 10 seconds
SEQUENCE = ONE_EMAIL_SEQUENCE  # `s`: one email step, `one` (template t/one)


class BrokerQueue:
    """The broker as the scheduler sees it: ids in, in order; workers take from the front."""

    def __init__(self) -> None:
        self.waiting: deque[int] = deque()
        self.enqueued: Counter[int] = Counter()

    def send(self, touch_id: int) -> None:
        self.waiting.append(touch_id)
        self.enqueued[touch_id] += 1

    def send_many(self, touch_ids: list[int]) -> None:  # a deep backlog's batches
        for touch_id in touch_ids:
            self.send(touch_id)

    def take(self, count: int) -> list[int]:
        return [self.waiting.popleft() for _ in range(min(count, len(self.waiting)))]


def add_backlog(h: Harness, count: int) -> None:
    """`count` email touches of one enrollment, all due a day ago (a scheduler down for a day)."""
    [touch] = h.touches()
    due = h.clock.now() - timedelta(days=1)
    row = {"enrollment_id": touch.enrollment_id, "lead_id": touch.lead_id, "step": "one"}
    rows = [
        row | {"kind": TouchKind.EMAIL, "status": TouchStatus.SCHEDULED, "due_at": due}
        for _ in range(count)
    ]
    with transaction(h.rt.engine) as session:
        session.execute(insert(Touch), rows)


def send_all(h: Harness, ids: list[int]) -> None:
    """What the workers record for the ids they took: sent."""
    with transaction(h.rt.engine) as session:
        session.execute(update(Touch).where(col(Touch.id).in_(ids)).values(status=TouchStatus.SENT))


def test_a_backlog_of_100000_due_touches_drains_within_the_in_flight_cap(
    make_harness: Harnesses,
) -> None:
    """Given 100,000 due touches and workers that send 2,000 every 10 seconds, when the
    scheduler ticks every 10 seconds with MAX_IN_FLIGHT 4,000, then the
    broker never holds more than MAX_IN_FLIGHT ids, no queued lease expires, every touch is
    enqueued exactly once, and the backlog drains."""
    h = make_harness(
        sequences={"s.yaml": SEQUENCE},
        templates={"t/one.j2": template("One")},
        max_in_flight=CAP,
    )
    queue = BrokerQueue()
    h.rt.enqueue_touch, h.rt.enqueue_touches = queue.send, queue.send_many
    h.event("lead.mql", "ana@example.com")
    add_backlog(h, BACKLOG)
    assert (CAP / PER_TICK) * timedelta(seconds=10) < QUEUED_LEASE  # the workers keep up with it
    deepest, redriven = 0, 0
    for _ in range(BACKLOG // PER_TICK + 3):
        result = tick(h.rt)
        redriven += result.redriven
        deepest = max(deepest, len(queue.waiting))
        send_all(h, queue.take(PER_TICK))
        h.clock.advance(timedelta(seconds=10))
    assert deepest == CAP
    assert redriven == 0
    assert len(queue.enqueued) == BACKLOG + 1 and set(queue.enqueued.values()) == {1}
    with transaction(h.rt.engine) as session:
        statuses = session.exec(select(Touch.status, func.count()).group_by(Touch.status)).all()
    assert dict(statuses) == {"sent": BACKLOG + 1}


def test_max_in_flight_comes_from_the_environment_and_refuses_zero() -> None:
    """FOLLOWUP_MAX_IN_FLIGHT sizes the cap; 0 or a fraction is a one-line error naming it."""
    assert Settings.from_mapping({}).max_in_flight == MAX_IN_FLIGHT
    assert Settings.from_mapping({"FOLLOWUP_MAX_IN_FLIGHT": "80"}).max_in_flight == 80
    for bad in ("0", "2.5", "-3"):
        with pytest.raises(ConfigError, match=r"^FOLLOWUP_MAX_IN_FLIGHT must be a whole number"):
            Settings.from_mapping({"FOLLOWUP_MAX_IN_FLIGHT": bad})
