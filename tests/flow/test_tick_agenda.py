"""A tick opens a write transaction only for the work whose moment has come, read first in one
statement without the writer lock (issue 15), and never misses work an earlier phase of the
same tick made (fake broker queue, virtual clock)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event, update
from sqlmodel import col

from models.event import Event
from models.touch import Touch, TouchStatus
from testkit.harness import Harness, Harnesses
from tests.flow.test_claim_loop import add_due, harness
from worker.engine.db import READ_ONLY, reading, transaction
from worker.engine.tunables import QUEUED_LEASE, STALE_EVENT_AFTER
from worker.flow.scheduling import claim_due
from worker.flow.tick_agenda import Work, read_agenda


@contextmanager
def write_transactions(h: Harness) -> Iterator[list[int]]:
    """One entry for each write transaction begun on the harness's database meanwhile."""
    begun: list[int] = []

    def on_begin(connection: Any) -> None:
        if not connection.get_execution_options().get(READ_ONLY, False):
            begun.append(1)

    event.listen(h.rt.engine, "begin", on_begin)
    try:
        yield begun
    finally:
        event.remove(h.rt.engine, "begin", on_begin)


def test_a_tick_with_nothing_due_writes_only_for_the_guardrails(make_harness: Harnesses) -> None:
    """Given a lead whose only touch is due in two days, when a tick runs, then it claims
    nothing and begins one write transaction (the guardrail count) instead of one a phase."""
    h, sent = harness(make_harness)
    with write_transactions(h) as begun:
        result = h.tick()
    assert (result.enqueued, sent, len(begun)) == (0, [], 1)


def test_the_agenda_says_which_work_has_come(make_harness: Harnesses) -> None:
    """Given a due touch, when the agenda is read, then the touch is due and nothing else is;
    once it is claimed its lease's end is the re-drive moment, due after the lease."""
    h, _ = harness(make_harness)
    add_due(h, 1)
    now = h.clock.now()
    with reading(h.rt.engine) as session:
        agenda = read_agenda(session, now=now)
    assert [work for work in Work if agenda.due(work)] == [Work.TOUCH_DUE]
    with transaction(h.rt.engine) as session:
        claim_due(session, now=now, limit=10)
    with reading(h.rt.engine) as session:
        claimed = read_agenda(session, now=now)
        later = read_agenda(session, now=now + QUEUED_LEASE + timedelta(seconds=1))
    assert claimed.moments[Work.LEASE_ENDS] == now + QUEUED_LEASE
    assert not claimed.due(Work.LEASE_ENDS) and later.due(Work.LEASE_ENDS)


def test_a_lost_message_is_redriven_and_claimed_in_the_same_tick(make_harness: Harnesses) -> None:
    """Given a queued touch whose message was lost and whose lease ran out (nothing else due),
    when a tick runs, then it re-drives the touch and enqueues it again in that tick."""
    h, sent = harness(make_harness)
    add_due(h, 1)
    with transaction(h.rt.engine) as session:
        [lost] = claim_due(session, now=h.clock.now(), limit=10).ids
    h.clock.move_to(h.clock.now() + QUEUED_LEASE + timedelta(seconds=1))
    result = h.tick()
    assert (result.redriven, result.enqueued, sent) == (1, 1, [lost])


def test_an_unapplied_event_is_on_the_agenda_once_it_is_stale(make_harness: Harnesses) -> None:
    """Given an event recorded but never applied (its message lost), when the agenda is read,
    then it is due STALE_EVENT_AFTER after it was received, not before."""
    h, _ = harness(make_harness)
    received = h.clock.now()
    with transaction(h.rt.engine) as session:
        session.execute(update(Event).values(processed_at=None, received_at=received))
        assert session.get(Event, 1) is not None
    with reading(h.rt.engine) as session:
        early = read_agenda(session, now=received + STALE_EVENT_AFTER - timedelta(seconds=1))
        stale = read_agenda(session, now=received + STALE_EVENT_AFTER)
    assert not early.due(Work.EVENT_STALE) and stale.due(Work.EVENT_STALE)


def test_a_sent_touch_leaves_no_lease_on_the_agenda(make_harness: Harnesses) -> None:
    """Given a claimed touch the workers sent, when the agenda is read, then no lease is left
    to re-drive."""
    h, _ = harness(make_harness)
    add_due(h, 1)
    with transaction(h.rt.engine) as session:
        claim_due(session, now=h.clock.now(), limit=10)
        session.execute(
            update(Touch)
            .where(col(Touch.status) == TouchStatus.QUEUED)
            .values(status=TouchStatus.SENT)
        )
    with reading(h.rt.engine) as session:
        agenda = read_agenda(session, now=h.clock.now() + timedelta(days=1))
    assert agenda.moments[Work.LEASE_ENDS] is None
