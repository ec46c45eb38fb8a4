"""WHERE AN EMAIL IS SENT: claim the touch -> render -> send -> record (delivery_records.py),
each step idempotent."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col

from models.enrollment import OPEN_STATUSES, Enrollment, EnrollmentStatus
from models.lead import Lead
from models.touch import Touch, TouchStatus
from worker.engine.db import changed_rows, transaction
from worker.engine.logs import bind, log_context
from worker.engine.metrics import MAILBOX_DEFERRALS, TOUCHES, count_on_commit
from worker.engine.runtime import Runtime
from worker.engine.tunables import SENDING_LEASE, lease
from worker.flow.delivery_records import Delivery, DeliveryOutcome, record_failure, record_sent
from worker.flow.guardrails import paused_for
from worker.flow.late_claims import hand_back, too_late_to_send
from worker.flow.outgoing import (
    ClaimedTouch,
    address_of,
    claimed_sender,
    compose_email,
    message_id_for,
    thread_parent,
)
from worker.flow.send_slots import SendSlots, take_slots
from worker.flow.touch_rows import TouchRow, load_touch
from worker.mail import PermanentSendError, SendError
from worker.specs.calendar import is_open, next_opening
from worker.specs.rendering import RENDER_ERROR, RenderError
from worker.specs.sequences import SequenceSpec, StepSpec

log = logging.getLogger("followup.delivery")


def deliver_touch(rt: Runtime, touch_id: int) -> Delivery:
    """Send one touch; a touch that is not `queued` is left alone.

    Logged here, where every line (SMTP errors too) names the touch, its enrollment, lead,
    sequence, step and Message-ID, so a log pipeline can follow it from claim to SMTP.
    """
    with log_context(touch_id=touch_id):
        delivery = _deliver(rt, touch_id)
        log.info("touch %s: %s", touch_id, delivery, extra={"outcome": str(delivery.outcome)})
        return delivery


def _deliver(rt: Runtime, touch_id: int) -> Delivery:
    claimed = _claim(rt, touch_id)
    if isinstance(claimed, Delivery):
        return claimed
    if too_late_to_send(rt, claimed):  # the claim's commit came back late: its lease is spent
        handed_back = hand_back(rt, claimed)
        return Delivery(DeliveryOutcome.EXPIRED, "handed back" if handed_back else "taken over")
    log.info("touch %s claimed: sending", touch_id)
    try:
        email = compose_email(rt, claimed)
        rt.mailer.send(email)
    except RenderError as exc:
        failure = f"{RENDER_ERROR}{exc} (lead {claimed.lead_email}, step {claimed.step.id!r})"
        return record_failure(rt, claimed, PermanentSendError(failure))
    except SendError as exc:
        return record_failure(rt, claimed, exc)
    return record_sent(rt, claimed, email.subject)


def _claim(rt: Runtime, touch_id: int) -> ClaimedTouch | Delivery:
    with transaction(rt.engine) as session:
        session.connection()  # BEGIN (IMMEDIATE on SQLite) first: a lock wait spends no lease
        now = rt.clock.now()
        lease_until = now + lease(SENDING_LEASE, rt.settings.lease_seconds)
        claimed = changed_rows(
            session,
            update(Touch)
            .where(col(Touch.id) == touch_id, col(Touch.status) == TouchStatus.QUEUED)
            .values(status=TouchStatus.SENDING, lease_until=lease_until),
        )
        if claimed != 1:
            return Delivery(DeliveryOutcome.NOT_QUEUED, "already handled")
        row = load_touch(session, touch_id)
        touch, enrollment, lead = row
        spec = rt.versions.get(session, enrollment.version)
        bind(enrollment_id=enrollment.id, lead_id=lead.id, sequence=spec.name, step=touch.step)
        sender = claimed_sender(rt, spec, enrollment.current_owner)
        held = _hold_back(rt, session, row, spec, sender, now)
        if isinstance(held, Delivery):  # held back, not tried: no attempt counted
            touch.lease_until = None
            session.add(touch)
            count_on_commit(session, TOUCHES.labels(outcome=held.outcome, sequence=spec.name))
            return held
        return _gather(session, row, spec, sender, held, lease_until)


def _gather(
    session: Session,
    row: TouchRow,
    spec: SequenceSpec,
    sender: str | None,
    slots: SendSlots,
    lease_until: datetime,
) -> ClaimedTouch:
    """Count the attempt (a send is really tried now), fix the touch's Message-ID (kept across
    retries) and From, and gather what sending needs."""
    touch, enrollment, lead = row
    step = spec.step(touch.step)
    assert step is not None
    touch.attempts += 1
    if touch.message_id is None:
        touch.message_id = message_id_for(sender)
    bind(message_id=touch.message_id)
    touch.sender = sender
    session.add(touch)
    return ClaimedTouch(
        touch_id=touch.id,  # type: ignore[arg-type]  # a stored row has its id
        lead_context=lead.template_context(),
        lead_email=lead.email,
        owner_email=enrollment.current_owner,
        spec=spec,
        step=step,
        template=step.template_for(touch.variant),
        sender=sender,
        message_id=touch.message_id,
        attempts=touch.attempts,
        zone=spec.zone_for(lead.timezone),
        slots=slots,
        thread_parent=thread_parent(session, enrollment, spec) if step.thread else None,
        lease_until=lease_until,
    )


def _hold_back(
    rt: Runtime,
    session: Session,
    row: TouchRow,
    spec: SequenceSpec,
    sender: str | None,
    now: datetime,
) -> Delivery | SendSlots:
    """Why the claimed touch must not go out now (its status changed to say so), or the send
    slots it took."""
    touch, enrollment, lead = row
    why_not = _why_not_send(enrollment, lead, spec.step(touch.step))
    if why_not:
        touch.status, touch.detail = TouchStatus.CANCELLED, why_not
        return Delivery(DeliveryOutcome.CANCELLED, why_not)
    if enrollment.status == EnrollmentStatus.PAUSED:
        touch.status = TouchStatus.HELD
        return Delivery(DeliveryOutcome.HELD, "enrollment paused")
    if enrollment.held_until is not None and now < enrollment.held_until:
        touch.status = TouchStatus.HELD  # released by the tick when the hold ends
        return Delivery(DeliveryOutcome.HELD, "auto-reply hold")
    pause = paused_for(session, address_of(sender), spec.name)
    if pause is not None:  # released by `followup mailboxes resume`
        touch.status, touch.sender = TouchStatus.HELD, sender
        touch.detail = f"held: {pause.scope} {pause.name} paused by the guardrails"
        return Delivery(DeliveryOutcome.HELD, touch.detail)
    zone = spec.zone_for(lead.timezone)
    if not is_open(now, spec.calendar, zone):
        touch.status, touch.due_at = TouchStatus.DEFERRED, next_opening(now, spec.calendar, zone)
        touch.detail = "outside the send window when picked up"
        return Delivery(DeliveryOutcome.DEFERRED, "outside the send window")
    slots = take_slots(
        session, team=rt.catalog.team, sender=address_of(sender), recipient=lead.email, now=now
    )
    if isinstance(slots, SendSlots):
        return slots
    next_slot, why = slots
    touch.status = TouchStatus.DEFERRED  # held back, never failed: it goes when a slot opens
    touch.due_at = next_opening(next_slot, spec.calendar, zone)
    touch.detail = f"{why} reached"
    count_on_commit(session, MAILBOX_DEFERRALS.labels(mailbox=address_of(sender)))
    return Delivery(DeliveryOutcome.DEFERRED, why)


def _why_not_send(enrollment: Enrollment, lead: Lead, step: StepSpec | None) -> str | None:
    if lead.suppressed_at is not None:
        return f"address suppressed ({lead.suppressed_reason})"
    if enrollment.status not in OPEN_STATUSES:
        return f"enrollment {enrollment.status}"
    if step is None or not step.is_email:
        return "step no longer in the pinned sequence"
    return None
