"""A batch message's touches are claimed in one transaction and recorded in one, a savepoint a
touch (issue 15): a touch whose lease would run out is handed back unsent, one whose record
breaks rolls back none of the others, an interrupted message records what it sent; a batch
renders every email before its first send, hands back what its share of the time limit cannot
cover, and records slow sends as they go."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from dramatiq.middleware.time_limit import TimeLimitExceeded
from sqlalchemy import update
from sqlmodel import Session, col

from models.touch import Touch, TouchStatus
from testkit.harness import ONE_EMAIL_SEQUENCE, Harness, Harnesses, template
from worker.engine.db import transaction
from worker.engine.tunables import (
    BATCH_RECORD_AFTER,
    BATCH_SEND_SHARE,
    SENDING_LEASE,
    send_bounds,
)
from worker.flow import delivery, delivery_records, send_pacing, touch_claims
from worker.flow.delivery import deliver_touches
from worker.flow.outgoing import ClaimedTouch
from worker.flow.touch_rows import ClaimRow
from worker.mail import OutgoingEmail, classify_smtp_reply

SEQUENCE = ONE_EMAIL_SEQUENCE  # `s`: one email step, `one` (template t/one)


def queued_touches(make_harness: Harnesses, leads: int) -> tuple[Harness, list[int]]:
    """A harness whose scheduler claimed `leads` first touches, none handed to a worker yet."""
    h = make_harness(sequences={"s.yaml": SEQUENCE}, templates={"t/one.j2": template("One")})
    h.rt.enqueue_touch, h.rt.enqueue_touches = (lambda _id: None), (lambda _ids: None)
    for n in range(leads):
        h.event("lead.mql", f"lead{n}@example.com")
    h.tick()
    ids = [t.id for t in h.touches(status=TouchStatus.QUEUED)]
    assert len(ids) == leads
    return h, [i for i in ids if i is not None]


def statuses(h: Harness) -> list[tuple[str, int]]:
    return [(t.status, t.attempts) for t in h.touches()]


def test_touches_whose_lease_ran_out_mid_batch_are_handed_back_unsent(
    make_harness: Harnesses,
) -> None:
    """Given a batch of three whose first send takes a whole lease, when it is delivered, then
    the first is recorded sent and the other two go back to `scheduled` unsent, no attempt
    counted."""
    h, ids = queued_touches(make_harness, 3)
    send = h.mailer.send

    def slow_send(email: OutgoingEmail) -> None:
        send(email)
        h.clock.advance(SENDING_LEASE)

    h.rt.mailer.send = slow_send  # type: ignore[method-assign]  # a fake's hook
    outcomes = deliver_touches(h.rt, ids)
    assert [outcomes[i].outcome for i in ids] == ["sent", "expired", "expired"]
    assert statuses(h) == [("sent", 1), ("scheduled", 0), ("scheduled", 0)]
    assert len(h.sent) == 1


def test_a_touch_whose_record_breaks_rolls_back_none_of_the_others(
    make_harness: Harnesses, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a batch of three whose second record raises, when it is delivered, then the first
    and third are recorded sent and the second stays `sending` for its lease to re-drive."""
    h, ids = queued_touches(make_harness, 3)
    finish_step = delivery_records.finish_step

    def breaks_on_the_second(session: object, **kwargs: object) -> None:
        if getattr(kwargs["touch"], "id", None) == ids[1]:
            raise RuntimeError("the database said no")
        finish_step(session, **kwargs)  # type: ignore[arg-type]  # passed through unchanged

    monkeypatch.setattr(delivery_records, "finish_step", breaks_on_the_second)
    outcomes = deliver_touches(h.rt, ids)
    assert [outcomes[i].outcome for i in ids] == ["sent", "left", "sent"]
    assert [t.status for t in h.touches()] == ["sent", "sending", "sent"]
    assert len(h.sent) == 3
    # recorded once: the batch's first, savepoint-free try was rolled back whole
    assert [e.touches_completed for e in h.enrollments()] == [1, 0, 1]


def test_a_touch_whose_claim_breaks_holds_back_none_of_the_others(
    make_harness: Harnesses, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a batch of three whose second claim raises, when it is delivered, then the first
    and third are sent with one attempt each and the second stays `sending`, no attempt
    counted, for its lease to re-drive."""
    h, ids = queued_touches(make_harness, 3)
    gather = touch_claims._gather

    def breaks_on_the_second(session: object, row: ClaimRow, *args: object) -> object:
        if row.touch_id == ids[1]:
            raise RuntimeError("the database said no")
        return gather(session, row, *args)  # type: ignore[arg-type]  # passed through unchanged

    monkeypatch.setattr(touch_claims, "_gather", breaks_on_the_second)
    outcomes = deliver_touches(h.rt, ids)
    assert [outcomes[i].outcome for i in ids] == ["sent", "left", "sent"]
    assert statuses(h) == [("sent", 1), ("sending", 0), ("sent", 1)]
    assert len(h.sent) == 2


def test_a_touch_another_worker_claims_mid_claim_is_left_to_it(
    make_harness: Harnesses, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a batch of three whose second touch another worker claims between this claim's
    read and its write (a redelivered message, say), when it is delivered, then the write finds
    it gone, the claim goes again the compare-and-set way, and only the first and third are
    sent: the second is `not_queued`, no attempt counted by this worker."""
    h, ids = queued_touches(make_harness, 3)
    load, compare_and_set = touch_claims.load_claim_rows, touch_claims._compare_and_set

    def other_worker_claims_the_second(session: Session) -> None:
        session.connection().execute(
            update(Touch).where(col(Touch.id) == ids[1]).values(status=TouchStatus.SENDING)
        )

    def read_then_taken(session: Session, touch_ids: list[int], *, status: str) -> object:
        rows = load(session, touch_ids, status=status)
        if status == TouchStatus.QUEUED:  # the fast way: taken after its read
            other_worker_claims_the_second(session)
        return rows

    def taken_before(session: Session, touch_ids: list[int], lease_until: object) -> object:
        other_worker_claims_the_second(session)  # ... and still taken for the second way
        return compare_and_set(session, touch_ids, lease_until)  # type: ignore[arg-type]

    monkeypatch.setattr(touch_claims, "load_claim_rows", read_then_taken)
    monkeypatch.setattr(touch_claims, "_compare_and_set", taken_before)
    outcomes = deliver_touches(h.rt, ids)
    assert [outcomes[i].outcome for i in ids] == ["sent", "not_queued", "sent"]
    assert statuses(h) == [("sent", 1), ("sending", 0), ("sent", 1)]
    assert sorted(m.to for m in h.sent) == ["lead0@example.com", "lead2@example.com"]


def test_an_interrupted_batch_records_what_it_sent_and_hands_back_the_rest(
    make_harness: Harnesses,
) -> None:
    """Given a batch of three whose second send is interrupted (dramatiq's time limit), when
    the interrupt ends the message, then the first is recorded sent, the second is left to its
    lease (it may have gone out) and the third is handed back unsent."""
    h, ids = queued_touches(make_harness, 3)
    send = h.mailer.send
    calls = []

    def interrupted_second(email: OutgoingEmail) -> None:
        calls.append(email)
        if len(calls) == 2:
            raise TimeLimitExceeded()
        send(email)

    h.rt.mailer.send = interrupted_second  # type: ignore[method-assign]  # a fake's hook
    with pytest.raises(TimeLimitExceeded):
        deliver_touches(h.rt, ids)
    assert statuses(h) == [("sent", 1), ("sending", 1), ("scheduled", 0)]


class RealTime:
    """send_pacing's monotonic clock, moved only by the test."""

    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


@pytest.fixture
def real_time(monkeypatch: pytest.MonkeyPatch) -> RealTime:
    clock = RealTime()
    monkeypatch.setattr(send_pacing, "monotonic", clock)
    return clock


def sending_with(h: Harness, each: Callable[[OutgoingEmail], None]) -> None:
    """The mailer sends, then runs `each` (a fake's hook)."""
    send = h.mailer.send

    def hooked(email: OutgoingEmail) -> None:
        send(email)
        each(email)

    h.rt.mailer.send = hooked  # type: ignore[method-assign]  # a fake's hook


def test_a_batch_past_its_share_of_the_time_limit_hands_back_the_rest(
    make_harness: Harnesses, real_time: RealTime
) -> None:
    """Given a batch of three whose first send takes the batch's whole share of the time limit
    (real time; the lease is far from spent), when it is delivered, then the first is recorded
    sent and the other two are handed back unsent, due again, no attempt counted."""
    h, ids = queued_touches(make_harness, 3)
    share = send_bounds(None).time_limit.total_seconds() * BATCH_SEND_SHARE
    sending_with(h, lambda _email: setattr(real_time, "seconds", real_time.seconds + share))
    outcomes = deliver_touches(h.rt, ids)
    assert [outcomes[i].outcome for i in ids] == ["sent", "expired", "expired"]
    assert statuses(h) == [("sent", 1), ("scheduled", 0), ("scheduled", 0)]
    assert len(h.sent) == 1


def test_slow_sends_are_recorded_as_they_go_and_quick_ones_once(
    make_harness: Harnesses, real_time: RealTime
) -> None:
    """Given a batch of three, when each send takes longer than BATCH_RECORD_AFTER, then each
    touch is already recorded sent when the next send starts; when they are quick, none is
    recorded before the last send (one record transaction for the batch)."""
    h, ids = queued_touches(make_harness, 3)
    seen: list[list[str]] = []

    def slow(_email: OutgoingEmail) -> None:
        seen.append([t.status for t in h.touches()])
        real_time.seconds += BATCH_RECORD_AFTER.total_seconds()

    sending_with(h, slow)
    deliver_touches(h.rt, ids)
    assert seen == [
        ["sending", "sending", "sending"],
        ["sent", "sending", "sending"],
        ["sent", "sent", "sending"],
    ]
    assert [t.status for t in h.touches()] == ["sent"] * 3

    h2, ids2 = queued_touches(make_harness, 3)
    quick: list[list[str]] = []
    sending_with(h2, lambda _email: quick.append([t.status for t in h2.touches()]))
    deliver_touches(h2.rt, ids2)
    assert quick == [["sending"] * 3] * 3
    assert [t.status for t in h2.touches()] == ["sent"] * 3


def test_an_interrupt_during_the_record_records_the_sends_all_the_same(
    make_harness: Harnesses, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a batch of three sent, when dramatiq's time limit interrupts the record halfway
    (its transaction rolled back), then the message still ends interrupted, but with all three
    recorded sent, each counted once on its enrollment: nothing sent is left to be re-driven."""
    h, ids = queued_touches(make_harness, 3)
    finish_step = delivery_records.finish_step
    calls = []

    def interrupted_once(session: object, **kwargs: object) -> None:
        calls.append(kwargs["touch"])
        if len(calls) == 2:
            raise TimeLimitExceeded()
        finish_step(session, **kwargs)  # type: ignore[arg-type]  # passed through unchanged

    monkeypatch.setattr(delivery_records, "finish_step", interrupted_once)
    with pytest.raises(TimeLimitExceeded):
        deliver_touches(h.rt, ids)
    assert statuses(h) == [("sent", 1), ("sent", 1), ("sent", 1)]
    assert [e.touches_completed for e in h.enrollments()] == [1, 1, 1]
    assert len(h.sent) == 3


def test_a_render_that_hangs_until_the_time_limit_holds_no_sent_touch(
    make_harness: Harnesses, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a batch of three whose second email renders until the time limit interrupts it,
    when it is delivered, then nothing was sent (every email is rendered before the first
    send), the hanging touch is left to its lease (a re-drive counted) and the other two are
    handed back unsent."""
    h, ids = queued_touches(make_harness, 3)
    compose = delivery.compose_email

    def hangs_on_the_second(rt: object, claimed: ClaimedTouch) -> OutgoingEmail:
        if claimed.touch_id == ids[1]:
            raise TimeLimitExceeded()
        return compose(rt, claimed)  # type: ignore[arg-type]  # passed through unchanged

    monkeypatch.setattr(delivery, "compose_email", hangs_on_the_second)
    with pytest.raises(TimeLimitExceeded):
        deliver_touches(h.rt, ids)
    assert h.sent == []
    assert statuses(h) == [("scheduled", 0), ("sending", 1), ("scheduled", 0)]


def test_a_touch_another_worker_finished_mid_batch_is_told_apart_from_the_rest(
    make_harness: Harnesses,
) -> None:
    """Given a batch of three whose second touch another worker recorded sent while this one
    was sending (its lease ran out, say), when the batch is recorded, then the first and third
    are recorded sent and the second is `already_finished`, its step counted once."""
    h, ids = queued_touches(make_harness, 3)
    calls: list[OutgoingEmail] = []

    def other_worker_finishes_the_second(_email: OutgoingEmail) -> None:
        calls.append(_email)
        if len(calls) == 2:
            with transaction(h.rt.engine) as session:
                session.execute(
                    update(Touch).where(col(Touch.id) == ids[1]).values(status=TouchStatus.SENT)
                )

    sending_with(h, other_worker_finishes_the_second)
    outcomes = deliver_touches(h.rt, ids)
    assert [outcomes[i].outcome for i in ids] == ["sent", "already_finished", "sent"]
    assert [e.touches_completed for e in h.enrollments()] == [1, 0, 1]


TWO_STEPS = """
name: s
trigger: lead.mql
steps:
  - id: one
    email: t/one
  - id: two
    email: t/two
    wait: 1d
"""


def one_enrollments_two_touches(make_harness: Harnesses) -> tuple[Harness, list[int]]:
    """A harness whose one enrollment has both steps' touches queued, for one batch message
    (a retried step and the next one due together, say)."""
    h = make_harness(
        sequences={"s.yaml": TWO_STEPS},
        templates={"t/one.j2": template("One"), "t/two.j2": template("Two")},
    )
    h.rt.enqueue_touch, h.rt.enqueue_touches = (lambda _id: None), (lambda _ids: None)
    h.event("lead.mql", "lead0@example.com")
    h.tick()
    [first] = h.touches(status=TouchStatus.QUEUED)
    with transaction(h.rt.engine) as session:
        second = Touch(
            enrollment_id=first.enrollment_id,
            lead_id=first.lead_id,
            sequence="s",
            step="two",
            kind=first.kind,
            status=TouchStatus.QUEUED,
            due_at=first.due_at,
        )
        session.add(second)
        session.flush()
        assert first.id is not None and second.id is not None
        return h, [first.id, second.id]


def test_two_touches_of_one_enrollment_in_a_batch_both_count(make_harness: Harnesses) -> None:
    """Given one enrollment's two touches in one batch, when both are sent, then its counters
    hold both (one progress an enrollment, written once) and it is completed."""
    h, ids = one_enrollments_two_touches(make_harness)
    outcomes = deliver_touches(h.rt, ids)
    assert [outcomes[i].outcome for i in ids] == ["sent", "sent"]
    [enrollment] = h.enrollments()
    assert (enrollment.touches_completed, enrollment.status) == (2, "completed")
    assert enrollment.first_touch_at is not None
    assert [t.step for t in h.touches()] == ["one", "two"]  # `two` was not planned again


def test_a_broken_record_of_one_of_an_enrollments_touches_counts_only_the_other(
    make_harness: Harnesses, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given one enrollment's two touches in one batch whose first record raises after its step
    was counted, when the batch is recorded a savepoint a touch, then the rolled-back count is
    forgotten: the enrollment counts the second touch only."""
    h, ids = one_enrollments_two_touches(make_harness)
    finish_step = delivery_records.finish_step

    def counts_then_breaks_on_the_first(session: object, **kwargs: object) -> None:
        finish_step(session, **kwargs)  # type: ignore[arg-type]  # passed through unchanged
        if getattr(kwargs["touch"], "id", None) == ids[0]:
            raise RuntimeError("the database said no")

    monkeypatch.setattr(delivery_records, "finish_step", counts_then_breaks_on_the_first)
    outcomes = deliver_touches(h.rt, ids)
    assert [outcomes[i].outcome for i in ids] == ["left", "sent"]
    assert [t.status for t in h.touches()] == ["sending", "sent"]
    [enrollment] = h.enrollments()
    assert enrollment.touches_completed == 1  # the second's; not the first's, rolled back


def test_a_bounce_in_a_batch_exits_the_enrollment_and_its_other_touch_keeps_it_so(
    make_harness: Harnesses,
) -> None:
    """Given one enrollment's two touches in one batch whose first hard-bounces, when the batch
    is recorded, then the enrollment exits as bounced (the suppression's change is not written
    over by the batch's own) and the second, which went out, is counted."""
    h, ids = one_enrollments_two_touches(make_harness)
    h.mailer.fail_next(classify_smtp_reply(550, "5.1.1 <lead0@example.com>: no such user"))
    outcomes = deliver_touches(h.rt, ids)
    assert outcomes[ids[0]].outcome == "failed"
    [enrollment] = h.enrollments()
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "email.bounced")
    assert enrollment.touches_completed == 1
    assert [t.status for t in h.touches()] == ["failed", "sent"]


def test_a_bounce_in_a_batch_ends_the_leads_other_enrollment_whose_touch_comes_after(
    make_harness: Harnesses,
) -> None:
    """Given a lead in two two-step sequences whose first touches share a batch, when the first
    hard-bounces and the second goes out, then both enrollments exit as bounced: the second's
    record carries on from what the bounce left (no step planned, its send still counted)."""
    other = TWO_STEPS.replace("name: s", "name: z").replace("t/", "z/")
    h = make_harness(
        sequences={"s.yaml": TWO_STEPS, "z.yaml": other},
        templates={
            name: template(name)
            for name in ("t/one.j2", "t/two.j2", "z/one.j2", "z/two.j2")
        },
    )
    h.rt.enqueue_touch, h.rt.enqueue_touches = (lambda _id: None), (lambda _ids: None)
    h.event("lead.mql", "lead0@example.com")
    h.tick()
    ids = [t.id for t in h.touches(status=TouchStatus.QUEUED) if t.id is not None]
    assert len(ids) == 2
    h.mailer.fail_next(classify_smtp_reply(550, "5.1.1 <lead0@example.com>: no such user"))
    outcomes = deliver_touches(h.rt, ids)
    assert [outcomes[i].outcome for i in ids] == ["failed", "sent"]
    ended = [(e.status, e.exit_reason, e.touches_completed) for e in h.enrollments()]
    assert sorted(ended) == [("exited", "email.bounced", 0), ("exited", "email.bounced", 1)]
    assert [t.status for t in h.touches()] == ["failed", "sent"]  # nothing planned after
