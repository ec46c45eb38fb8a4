"""Claiming touches for sending: a message's ids in one transaction (one joined read of the queued
ones, each then held back or gathered for its send, the gathered ones written in one statement);
when that broke, again with a compare-and-set first and a savepoint a touch."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlmodel import Session

from models.enrollment import OPEN_STATUSES, EnrollmentStatus
from models.sending_pause import PauseScope
from models.touch import TouchStatus
from worker.engine.db import core_changed_rows, transaction
from worker.engine.metrics import MAILBOX_DEFERRALS, TOUCHES, count_on_commit
from worker.engine.runtime import Runtime
from worker.engine.tunables import SENDING_LEASE, lease
from worker.flow.delivery_batch import TouchBroke, each_touch, savepoints_if_broken
from worker.flow.delivery_records import Delivery, DeliveryOutcome
from worker.flow.guardrails import paused_now
from worker.flow.outgoing import (
    ClaimedTouch,
    address_of,
    claimed_sender,
    message_id_for,
    thread_parent,
)
from worker.flow.send_slots import SendSlots, take_slots
from worker.flow.touch_rows import TOUCH_TABLE, ClaimRow, load_claim_rows
from worker.specs.calendar import is_open, next_opening
from worker.specs.sequences import SequenceSpec, StepSpec

log = logging.getLogger("followup.delivery")


@dataclass
class _Batch:
    """What every touch of one claim shares: its moment, lease, the pauses in force and the
    status its writes expect."""

    now: datetime
    lease_until: datetime
    pauses: set[tuple[str, str]] = field(default_factory=set)  # (scope, name)
    # what its touches' writes find them in: still `queued` (the fast way), or `sending` after
    # the compare-and-set (isolated); a write that finds another status breaks the touch
    expected: TouchStatus = TouchStatus.QUEUED

    def paused(self, address: str, sequence: str) -> str | None:
        """Which pause holds a touch from this mailbox in this sequence, in words; else None."""
        for scope, name in ((PauseScope.MAILBOX, address), (PauseScope.SEQUENCE, sequence)):
            if (str(scope), name) in self.pauses:
                return f"{scope} {name}"
        return None


def claim_touches(rt: Runtime, touch_ids: list[int]) -> dict[int, ClaimedTouch | Delivery]:
    """Each id's claim, or why it goes nowhere now; one that broke is left out (still `sending`:
    its lease re-drives it, counted, so a touch that always breaks ends failed)."""
    return savepoints_if_broken(
        lambda isolated: _claim_all(rt, touch_ids, isolated=isolated), what="claim"
    )


def _claim_all(
    rt: Runtime, touch_ids: list[int], *, isolated: bool
) -> dict[int, ClaimedTouch | Delivery]:
    """The claim transaction. Not isolated (the fast way), the queued touches are read first and
    each leaves `queued` by the one UPDATE that also counts its attempt and fixes its Message-ID
    (one row version a touch, where a compare-and-set and then that write made two: issue 15),
    the gathered ones in one statement; a touch another worker took in between breaks the
    batch (TouchBroke). Isolated, the compare-and-set wins the touches first, then each is
    claimed behind its own savepoint."""
    with transaction(rt.engine) as session:
        session.connection()  # BEGIN (IMMEDIATE on SQLite) first: a lock wait spends no lease
        now = rt.clock.now()
        batch = _Batch(now, now + lease(SENDING_LEASE, rt.settings.lease_seconds))
        claims: dict[int, ClaimedTouch | Delivery] = {
            i: Delivery(DeliveryOutcome.NOT_QUEUED, "already handled") for i in touch_ids
        }
        won = touch_ids  # the fast way: each write finds out
        if isolated:
            batch.expected = TouchStatus.SENDING
            won = _compare_and_set(session, touch_ids, batch.lease_until)
        rows = load_claim_rows(session, won, status=batch.expected) if won else []
        if not rows:
            return claims
        batch.pauses = paused_now(session)
        writes: list[dict[str, object]] | None = None if isolated else []
        done = each_touch(
            session,
            rows,
            lambda row: _claim_one(rt, session, row, batch, writes),
            isolated=isolated,
            what="claim",
            touch_id=lambda row: row.touch_id,
        )
        if writes:
            _write_all(session, writes, batch.expected)
    for row in rows:  # in the order asked for; one whose claim broke is left out
        if row.touch_id in done:
            claims[row.touch_id] = done[row.touch_id]
        else:
            del claims[row.touch_id]
    return claims


def _compare_and_set_statement() -> Any:
    """_compare_and_set's UPDATE, built once (bound per call): building it was ~15% of a
    one-touch message's CPU."""
    touches = TOUCH_TABLE.c
    return (
        update(TOUCH_TABLE)
        .where(
            touches.id.in_(bindparam("touch_ids", expanding=True)),
            touches.status == TouchStatus.QUEUED,
        )
        .values(status=TouchStatus.SENDING, lease_until=bindparam("lease_until"))
        .returning(touches.id)
    )


_COMPARE_AND_SET = _compare_and_set_statement()


def _compare_and_set(session: Session, touch_ids: list[int], lease_until: datetime) -> list[int]:
    """`queued` -> `sending` in one statement; the ids this claim won (redelivered ones lose)."""
    bound = {"touch_ids": touch_ids, "lease_until": lease_until}
    return sorted(session.connection().execute(_COMPARE_AND_SET, bound).scalars().all())


def _claim_one(
    rt: Runtime,
    session: Session,
    row: ClaimRow,
    batch: _Batch,
    writes: list[dict[str, object]] | None,
) -> ClaimedTouch | Delivery:
    spec = rt.versions.get(session, row.version)
    sender = claimed_sender(rt, spec, row.current_owner)
    held = _hold_back(rt, session, row, spec, sender, batch)
    if isinstance(held, Delivery):  # held back, not tried: no attempt counted
        count_on_commit(session, TOUCHES.labels(outcome=held.outcome, sequence=spec.name))
        return held
    return _gather(session, row, spec, sender, held, batch, writes)


def _gather(
    session: Session,
    row: ClaimRow,
    spec: SequenceSpec,
    sender: str | None,
    slots: SendSlots,
    batch: _Batch,
    writes: list[dict[str, object]] | None,
) -> ClaimedTouch:
    """`sending` under the batch's lease, the attempt counted (a send is really tried now), the
    touch's Message-ID (kept across retries) and From fixed, and what sending needs gathered;
    the write is added to `writes` when given (one statement for the batch), else done now."""
    step = spec.step(row.step)
    assert step is not None
    message_id = row.message_id or message_id_for(sender)
    attempts = row.attempts + 1  # this one included
    values = {
        "status": TouchStatus.SENDING,
        "lease_until": batch.lease_until,
        "attempts": attempts,
        "message_id": message_id,
        "sender": sender,
    }
    if writes is None:
        _write(session, row.touch_id, batch.expected, **values)
    else:
        writes.append({"touch_id": row.touch_id, **values})
    return ClaimedTouch(
        touch_id=row.touch_id,
        lead_context=row.lead_context,
        lead_email=row.lead_email,
        owner_email=row.current_owner,
        spec=spec,
        step=step,
        template=step.template_for(row.variant),
        sender=sender,
        message_id=message_id,
        attempts=attempts,
        zone=spec.zone_for(row.lead_timezone),
        slots=slots,
        thread_parent=thread_parent(session, row.enrollment_id, spec) if step.thread else None,
        lease_until=batch.lease_until,
        log_ids={
            "touch_id": row.touch_id,
            "enrollment_id": row.enrollment_id,
            "lead_id": row.lead_id,
            "sequence": spec.name,
            "step": row.step,
            "message_id": message_id,
        },
    )


_WRITE = update(TOUCH_TABLE).where(  # built once
    TOUCH_TABLE.c.id == bindparam("touch_id"), TOUCH_TABLE.c.status == bindparam("expected")
)


def _write(session: Session, touch_id: int, expected: TouchStatus, **values: object) -> None:
    """One Core UPDATE of a claimed touch (the claim holds no ORM object for it), found in the
    status the claim expects, else TouchBroke: another worker has it."""
    bound = {"touch_id": touch_id, "expected": expected, **values}
    if core_changed_rows(session, _WRITE, bound) != 1:
        raise TouchBroke(f"claim: touch {touch_id} was taken by another worker")


def _write_all(session: Session, writes: list[dict[str, object]], expected: TouchStatus) -> None:
    """_write for many touches in one executemany; any that another worker took, or a break,
    rolls back the whole claim (then claimed again a savepoint a touch: delivery_batch.py)."""
    try:
        changed = core_changed_rows(session, _WRITE, [w | {"expected": expected} for w in writes])
    except Exception as exc:  # re-raised, so the claim transaction rolls back
        raise TouchBroke("claim: the batch's write broke") from exc
    if changed != len(writes):
        raise TouchBroke("claim: a touch was taken by another worker")


def _hold_back(
    rt: Runtime,
    session: Session,
    row: ClaimRow,
    spec: SequenceSpec,
    sender: str | None,
    batch: _Batch,
) -> Delivery | SendSlots:
    """Why the claimed touch must not go out now (its status changed to say so, its lease
    ended), or the send slots it took."""
    now = batch.now
    why_not = _why_not_send(row, spec.step(row.step))
    if why_not:
        _write(
            session,
            row.touch_id,
            batch.expected,
            status=TouchStatus.CANCELLED,
            detail=why_not,
            **_UNLEASED,
        )
        return Delivery(DeliveryOutcome.CANCELLED, why_not)
    if row.enrollment_status == EnrollmentStatus.PAUSED:
        _write(session, row.touch_id, batch.expected, status=TouchStatus.HELD, **_UNLEASED)
        return Delivery(DeliveryOutcome.HELD, "enrollment paused")
    if row.held_until is not None and now < row.held_until:
        # released by a tick
        _write(session, row.touch_id, batch.expected, status=TouchStatus.HELD, **_UNLEASED)
        return Delivery(DeliveryOutcome.HELD, "auto-reply hold")
    pause = batch.paused(address_of(sender), spec.name)
    if pause is not None:  # released by `followup mailboxes resume`
        detail = f"held: {pause} paused by the guardrails"
        held = {"status": TouchStatus.HELD, "sender": sender, "detail": detail}
        _write(session, row.touch_id, batch.expected, **held, **_UNLEASED)
        return Delivery(DeliveryOutcome.HELD, detail)
    zone = spec.zone_for(row.lead_timezone)
    if not is_open(now, spec.calendar, zone):
        _write(
            session,
            row.touch_id,
            batch.expected,
            status=TouchStatus.DEFERRED,
            due_at=next_opening(now, spec.calendar, zone),
            detail="outside the send window when picked up",
            **_UNLEASED,
        )
        return Delivery(DeliveryOutcome.DEFERRED, "outside the send window")
    slots = take_slots(
        session, team=rt.catalog.team, sender=address_of(sender), recipient=row.lead_email, now=now
    )
    if isinstance(slots, SendSlots):
        return slots
    next_slot, why = slots
    _write(  # held back, never failed: it goes when a slot opens
        session,
        row.touch_id,
        batch.expected,
        status=TouchStatus.DEFERRED,
        due_at=next_opening(next_slot, spec.calendar, zone),
        detail=f"{why} reached",
        **_UNLEASED,
    )
    count_on_commit(session, MAILBOX_DEFERRALS.labels(mailbox=address_of(sender)))
    return Delivery(DeliveryOutcome.DEFERRED, why)


_UNLEASED: dict[str, object] = {"lease_until": None}  # a touch held back holds no claim


def _why_not_send(row: ClaimRow, step: StepSpec | None) -> str | None:
    if row.suppressed_at is not None:
        return f"address suppressed ({row.suppressed_reason})"
    if row.enrollment_status not in OPEN_STATUSES:
        return f"enrollment {row.enrollment_status}"
    if step is None or not step.is_email:
        return "step no longer in the pinned sequence"
    return None
