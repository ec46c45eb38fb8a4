"""The scheduler's claim loop spends no statement it does not need (issue 15): a batch short
of its limit ends the loop, the in-flight cap holds, and the earliest moment a tick has work
is read in one statement (fake broker queue, virtual clock)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, update
from sqlmodel import col

from models.touch import Touch, TouchKind, TouchStatus
from testkit.harness import Harness, Harnesses, template
from worker.engine import scheduler_loop
from worker.engine.db import reading, transaction
from worker.engine.scheduler_loop import claim_and_enqueue, claim_between_ticks
from worker.engine.tunables import QUEUED_LEASE
from worker.flow.scheduling import Claimed, claim_due
from worker.flow.tick_agenda import next_wakeup

SEQUENCE = """
name: s
trigger: lead.mql
steps:
  - id: one
    email: t/one
    wait: 2d
"""


def harness(make_harness: Harnesses, *, max_in_flight: int = 500) -> tuple[Harness, list[int]]:
    """A harness whose enqueued ids land in the list (one lead, its touch due in 2 days)."""
    h = make_harness(
        sequences={"s.yaml": SEQUENCE},
        templates={"t/one.j2": template("One")},
        max_in_flight=max_in_flight,
    )
    sent: list[int] = []
    h.rt.enqueue_touch, h.rt.enqueue_touches = sent.append, sent.extend
    h.event("lead.mql", "ana@example.com")
    sent.clear()
    return h, sent


def add_due(h: Harness, count: int) -> None:
    """`count` email touches of the lead's enrollment, due an hour ago."""
    [touch] = h.touches()
    row = {"enrollment_id": touch.enrollment_id, "lead_id": touch.lead_id, "step": "one"}
    due = {"kind": TouchKind.EMAIL, "status": TouchStatus.SCHEDULED}
    rows = [row | due | {"due_at": h.clock.now() - timedelta(hours=1)} for _ in range(count)]
    with transaction(h.rt.engine) as session:
        session.execute(insert(Touch), rows)


@contextmanager
def counted(monkeypatch: pytest.MonkeyPatch, name: str) -> Iterator[list[int]]:
    """Calls of the scheduler loop's `name`, each noted with what it returned."""
    calls: list[int] = []
    original = getattr(scheduler_loop, name)

    def noting(*args: Any, **kwargs: Any) -> Any:
        answer = original(*args, **kwargs)
        calls.append(len(answer.ids) if isinstance(answer, Claimed) else answer)
        return answer

    monkeypatch.setattr(scheduler_loop, name, noting)
    yield calls


def test_fewer_due_touches_than_a_batch_are_claimed_in_one_claim(
    make_harness: Harnesses, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given 7 due touches and a claim batch of 500, when the loop runs, then one claim takes
    all 7 and enqueues them, and no second (empty) claim follows."""
    h, sent = harness(make_harness)
    add_due(h, 7)
    with counted(monkeypatch, "claim_due") as claims:
        enqueued, capped = claim_and_enqueue(h.rt, now=h.clock.now(), lease_for=QUEUED_LEASE)
    assert (enqueued, capped, claims, len(sent)) == (7, False, [7], 7)


def test_full_batches_claim_on_until_one_comes_up_short(
    make_harness: Harnesses, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given 5 due touches and a claim batch of 2, when the loop runs, then it claims 2, 2 and
    1, counting what is in flight before each claim (other schedulers claim too)."""
    h, sent = harness(make_harness)
    add_due(h, 5)
    monkeypatch.setattr(scheduler_loop, "CLAIM_BATCH", 2)
    with (
        counted(monkeypatch, "claim_due") as claims,
        counted(monkeypatch, "count_in_flight") as counts,
    ):
        enqueued, capped = claim_and_enqueue(h.rt, now=h.clock.now(), lease_for=QUEUED_LEASE)
    assert (enqueued, capped, claims, counts) == (5, False, [2, 2, 1], [0, 2, 4])
    assert sorted(set(sent)) == sent


def test_full_batches_that_take_the_last_due_touch_end_the_loop(
    make_harness: Harnesses, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given 4 due touches and a claim batch of 2, when the loop runs, then it claims 2 and 2,
    and finds none left due without a third (empty) claim."""
    h, sent = harness(make_harness)
    add_due(h, 4)
    monkeypatch.setattr(scheduler_loop, "CLAIM_BATCH", 2)
    with (
        counted(monkeypatch, "claim_due") as claims,
        counted(monkeypatch, "count_in_flight") as counts,
    ):
        enqueued, capped = claim_and_enqueue(h.rt, now=h.clock.now(), lease_for=QUEUED_LEASE)
    assert (enqueued, capped, claims, counts, len(sent)) == (4, False, [2, 2], [0, 2], 4)


def test_the_in_flight_cap_holds_back_what_does_not_fit(
    make_harness: Harnesses, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given 8 due touches, a cap of 5 with 1 already queued and a claim batch of 3, when the
    loop runs, then it claims 3 and 1 (the room left), says the cap held some back, and the
    next call, with the cap still full, claims nothing."""
    h, sent = harness(make_harness, max_in_flight=5)
    add_due(h, 8)
    monkeypatch.setattr(scheduler_loop, "CLAIM_BATCH", 3)
    now = h.clock.now()
    claim_and_enqueue_one(h)
    with counted(monkeypatch, "claim_due") as claims:
        enqueued, capped = claim_and_enqueue(h.rt, now=now, lease_for=QUEUED_LEASE)
        again = claim_and_enqueue(h.rt, now=now, lease_for=QUEUED_LEASE)
    assert (enqueued, capped, claims, again) == (4, True, [3, 1], (0, True))
    assert len(sent) == len(set(sent)) == 4


def claim_and_enqueue_one(h: Harness) -> None:
    """One due touch claimed (queued, in flight) by an earlier pass."""
    with transaction(h.rt.engine) as session:
        assert len(claim_due(session, now=h.clock.now(), limit=1).ids) == 1


def test_the_next_wakeup_is_the_earliest_moment_of_any_kind(make_harness: Harnesses) -> None:
    """Given the lead's first touch due and a touch of the same enrollment due an hour ago,
    when the tick's next wake-up is read, then it is the earlier one; with nothing waiting
    but the SLA checks, it is the earliest of those."""
    h, _ = harness(make_harness)
    with reading(h.rt.engine) as session:
        first = next_wakeup(session)
    add_due(h, 1)
    with reading(h.rt.engine) as session:
        earlier = next_wakeup(session)
    assert first is not None and earlier == h.clock.now() - timedelta(hours=1) < first


def test_a_capped_tick_claims_again_as_the_workers_make_room(
    make_harness: Harnesses, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given 8 due touches, a cap of 3 and workers that finish every queued touch between two
    claims, when the rest of a capped tick runs, then it claims again until none are due (3, 3
    and 2 enqueued), without waiting for the next tick; a set stop ends it at once."""
    h, sent = harness(make_harness, max_in_flight=3)
    add_due(h, 8)
    monkeypatch.setattr(scheduler_loop, "CLAIM_GAP_SECONDS", 0.001)
    enqueued, capped = claim_and_enqueue(h.rt, now=h.clock.now(), lease_for=QUEUED_LEASE)
    assert (enqueued, capped) == (3, True)
    original = scheduler_loop.claim_and_enqueue

    def after_the_workers(*args: Any, **kwargs: Any) -> tuple[int, bool]:
        with transaction(h.rt.engine) as session:  # the workers sent what was queued
            session.execute(
                update(Touch)
                .where(col(Touch.status) == TouchStatus.QUEUED)
                .values(status=TouchStatus.SENT)
            )
        return original(*args, **kwargs)

    monkeypatch.setattr(scheduler_loop, "claim_and_enqueue", after_the_workers)
    monkeypatch.setattr(scheduler_loop, "DUE_LOOK_SECONDS", 0.01)
    stop = threading.Event()
    claim_between_ticks(h.rt, stop, until=time.monotonic() + 0.5, capped=True)
    assert len(sent) == len(set(sent)) == 8
    stop.set()
    with counted(monkeypatch, "claim_and_enqueue") as claims:
        claim_between_ticks(h.rt, stop, until=time.monotonic() + 60, capped=True)
    assert claims == []


def test_a_touch_falling_due_between_ticks_is_claimed_before_the_next_tick(
    make_harness: Harnesses, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a touch due now and the lead's next one due in 2 days, when the time between two
    ticks passes, then the due one is enqueued without waiting for the tick, and the wait for
    the one in 2 days is left to the ticks."""
    h, sent = harness(make_harness)
    add_due(h, 1)
    monkeypatch.setattr(scheduler_loop, "CLAIM_GAP_SECONDS", 0.001)
    monkeypatch.setattr(scheduler_loop, "DUE_LOOK_SECONDS", 0.01)
    with counted(monkeypatch, "claim_and_enqueue") as claims:
        claim_between_ticks(h.rt, threading.Event(), until=time.monotonic() + 0.5, capped=False)
    assert (len(sent), claims) == (1, [(1, False)])


def test_a_touch_another_process_makes_due_between_ticks_is_claimed_before_the_next_tick(
    make_harness: Harnesses, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a scheduler waiting between two ticks a minute apart with nothing due, when another
    process stores a touch due now (an API event's first touch), then the scheduler claims and
    enqueues it before that next tick: it looks for due touches every DUE_LOOK_SECONDS."""
    h, sent = harness(make_harness)
    monkeypatch.setattr(scheduler_loop, "DUE_LOOK_SECONDS", 0.02)
    stop = threading.Event()
    waiting = threading.Thread(
        target=claim_between_ticks,
        args=(h.rt, stop),
        kwargs={"until": time.monotonic() + 60, "capped": False},
    )
    waiting.start()
    try:
        add_due(h, 1)
        deadline = time.monotonic() + 30
        while not sent and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        waiting.join(timeout=10)
    assert len(sent) == 1 and not waiting.is_alive()
