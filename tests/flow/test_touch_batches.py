"""A deep backlog goes to the workers TOUCH_BATCH ids a message (issue 15): fewer broker round
trips, the same sends; a shallow one keeps one id a message, so a single touch goes at once."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlmodel import col

from models.touch import Touch, TouchStatus
from testkit.harness import ONE_EMAIL_SEQUENCE, Harnesses, template
from worker.engine import scheduler_loop
from worker.engine.db import transaction
from worker.engine.scheduler_loop import enqueue_claimed
from worker.engine.tunables import TOUCH_BATCH_DEEP

TOUCH_BATCH = 5  # smaller than the shipped one: a few ids show the split

SEQUENCE = ONE_EMAIL_SEQUENCE  # `s`: one email step, `one` (template t/one)


class Messages:
    """The enqueue hooks as the broker sees them: one entry per message."""

    def __init__(self) -> None:
        self.sent: list[list[int]] = []

    def one(self, touch_id: int) -> None:
        self.sent.append([touch_id])

    def many(self, touch_ids: list[int]) -> None:
        self.sent.append(list(touch_ids))


@pytest.fixture(autouse=True)
def batches_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduler_loop, "TOUCH_BATCH", TOUCH_BATCH)


def test_a_deep_claim_goes_out_in_batches_and_a_shallow_one_an_id_a_message(
    make_harness: Harnesses,
) -> None:
    """Given the enqueue hooks, when TOUCH_BATCH_DEEP ids are claimed at once, then they go out
    TOUCH_BATCH a message, in order; when fewer are, one id a message."""
    h = make_harness(sequences={"s.yaml": SEQUENCE}, templates={"t/one.j2": template("One")})
    messages = Messages()
    h.rt.enqueue_touch, h.rt.enqueue_touches = messages.one, messages.many
    deep = list(range(1, TOUCH_BATCH_DEEP + 1))
    enqueue_claimed(h.rt, deep)
    assert all(len(batch) == TOUCH_BATCH for batch in messages.sent[:-1])
    assert [i for batch in messages.sent for i in batch] == deep
    assert len(messages.sent) == -(-TOUCH_BATCH_DEEP // TOUCH_BATCH)
    messages.sent.clear()
    enqueue_claimed(h.rt, deep[:3])
    assert messages.sent == [[1], [2], [3]]
    messages.sent.clear()
    room = list(range(1, 8))
    enqueue_claimed(h.rt, room, backlog=True)  # the cap's room was 7, more were due
    assert messages.sent == [room[:4], room[4:]]  # two messages, as even as can be


def test_a_claim_the_cap_cut_short_goes_out_in_batches(
    make_harness: Harnesses, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given 12 leads due at once and an in-flight cap of 7, when the scheduler claims, then the
    7 it may take go out TOUCH_BATCH a message (more are due behind them: a backlog)."""
    h = make_harness(
        sequences={"s.yaml": SEQUENCE}, templates={"t/one.j2": template("One")}, max_in_flight=7
    )
    messages = Messages()
    h.rt.enqueue_touch, h.rt.enqueue_touches = messages.one, messages.many
    for n in range(12):
        h.event("lead.mql", f"lead{n}@example.com")
    enqueued, capped = scheduler_loop.claim_and_enqueue(
        h.rt, now=h.clock.now(), lease_for=scheduler_loop.QUEUED_LEASE
    )
    assert (enqueued, capped) == (7, True)
    assert [len(batch) for batch in messages.sent] == [4, 3]


def test_a_backlog_sent_in_batches_reaches_every_lead_once(make_harness: Harnesses) -> None:
    """Given TOUCH_BATCH_DEEP + 7 leads whose first touch is due at once, when the scheduler
    ticks and the workers run the batch messages, then each touch is sent exactly once, with
    its own Message-ID, and none is left queued or sending."""
    h = make_harness(sequences={"s.yaml": SEQUENCE}, templates={"t/one.j2": template("One")})
    batches = Messages()
    enqueue_touches = h.rt.enqueue_touches
    assert enqueue_touches is not None

    def spy(touch_ids: list[int]) -> None:
        batches.many(touch_ids)
        enqueue_touches(touch_ids)

    h.rt.enqueue_touches = spy
    leads = TOUCH_BATCH_DEEP + 7
    for n in range(leads):
        h.event("lead.mql", f"lead{n}@example.com")
    h.tick()
    assert {t.status for t in h.touches()} == {TouchStatus.SENT}
    assert sum(len(batch) for batch in batches.sent) == leads
    message_ids = [email.message_id for email in h.sent]
    assert len(message_ids) == len(set(message_ids)) == leads
    assert sorted(email.to for email in h.sent) == sorted(
        f"lead{n}@example.com" for n in range(leads)
    )


def test_ids_re_driven_after_a_lost_send_go_one_a_message_in_a_deep_claim(
    make_harness: Harnesses,
) -> None:
    """Given a deep claim in which two ids came back from a lost send, when it is enqueued,
    then those two go one a message and the rest in batches: batch-mates of a render that hung
    never share a message with it again."""
    h = make_harness(sequences={"s.yaml": SEQUENCE}, templates={"t/one.j2": template("One")})
    messages = Messages()
    h.rt.enqueue_touch, h.rt.enqueue_touches = messages.one, messages.many
    deep = list(range(1, TOUCH_BATCH_DEEP + 3))
    enqueue_claimed(h.rt, deep, alone={3, 7})
    assert messages.sent[:2] == [[3], [7]]
    batched = [i for batch in messages.sent[2:] for i in batch]
    assert batched == [i for i in deep if i not in (3, 7)]
    assert all(1 < len(batch) <= TOUCH_BATCH for batch in messages.sent[2:])


def test_the_claim_names_the_touches_lost_mid_send_before(make_harness: Harnesses) -> None:
    """Given TOUCH_BATCH_DEEP due touches of which one was re-driven mid-send before, when the
    scheduler claims them, then that one goes alone and the others in batches."""
    h = make_harness(sequences={"s.yaml": SEQUENCE}, templates={"t/one.j2": template("One")})
    messages = Messages()
    h.rt.enqueue_touch, h.rt.enqueue_touches = messages.one, messages.many
    for n in range(TOUCH_BATCH_DEEP):
        h.event("lead.mql", f"lead{n}@example.com")
    lost = min(t.id for t in h.touches() if t.id is not None)
    with transaction(h.rt.engine) as session:
        session.execute(update(Touch).where(col(Touch.id) == lost).values(redrives=1))
    enqueued, _ = scheduler_loop.claim_and_enqueue(
        h.rt, now=h.clock.now(), lease_for=scheduler_loop.QUEUED_LEASE
    )
    assert enqueued == TOUCH_BATCH_DEEP
    assert [lost] in messages.sent
    assert sorted(len(batch) for batch in messages.sent if batch != [lost])[-1] > 1
