"""WHERE AN EMAIL IS SENT: claim the touch -> render -> send -> record, each step idempotent."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import update
from sqlmodel import Session, col

from models.compliance import ComplianceKind
from models.enrollment import OPEN_STATUSES, Enrollment, EnrollmentStatus
from models.lead import Lead
from models.touch import FINAL, Touch, TouchStatus
from worker.engine.db import changed_rows, transaction
from worker.engine.logs import bind, log_context
from worker.engine.metrics import MAILBOX_DEFERRALS, TOUCHES, count_on_commit
from worker.engine.runtime import Runtime
from worker.engine.tunables import MAX_ATTEMPTS, MAX_BACKOFF, SENDING_LEASE, lease
from worker.flow.backoff import retry_delay
from worker.flow.enrollment import suppress_lead
from worker.flow.guardrails import paused_for
from worker.flow.outgoing import (
    ClaimedTouch,
    address_of,
    claimed_sender,
    compose_email,
    message_id_for,
    thread_parent,
)
from worker.flow.scheduling import finish_step
from worker.flow.send_slots import SendSlots, give_back_slots, take_slots
from worker.flow.touch_rows import TouchRow, load_touch
from worker.mail import PermanentSendError, SendError
from worker.specs.calendar import is_open, next_opening
from worker.specs.rendering import RENDER_ERROR, RenderError
from worker.specs.sequences import SequenceSpec, StepSpec

log = logging.getLogger("followup.delivery")


class DeliveryOutcome(StrEnum):
    """What one delivery attempt did with its touch (normalised, as django-anymail does)."""

    SENT = "sent"  # the server accepted it; recorded
    RETRY = "retry"  # a transient failure: scheduled again with backoff
    FAILED = "failed"  # permanent (or out of attempts): recorded, not retried
    CANCELLED = "cancelled"  # suppressed address, ended enrollment or removed step
    HELD = "held"  # the enrollment is paused
    DEFERRED = "deferred"  # outside the send window, or over a mailbox limit
    NOT_QUEUED = "not_queued"  # already handled: a redelivered message
    ALREADY_FINISHED = "already_finished"  # another worker recorded this touch first


@dataclass(frozen=True)
class Delivery:
    outcome: DeliveryOutcome
    detail: str = ""  # the reason, for the log line (the touch row keeps it too)

    def __str__(self) -> str:
        return f"{self.outcome}: {self.detail}" if self.detail else str(self.outcome)


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
    log.info("touch %s claimed: sending", touch_id)
    try:
        email = compose_email(rt, claimed)
        rt.mailer.send(email)
    except RenderError as exc:
        failure = f"{RENDER_ERROR}{exc} (lead {claimed.lead_email}, step {claimed.step.id!r})"
        return _record_failure(rt, claimed, PermanentSendError(failure))
    except SendError as exc:
        return _record_failure(rt, claimed, exc)
    return _record_sent(rt, claimed, email.subject)


def _claim(rt: Runtime, touch_id: int) -> ClaimedTouch | Delivery:
    now = rt.clock.now()
    with transaction(rt.engine) as session:
        claimed = changed_rows(
            session,
            update(Touch)
            .where(col(Touch.id) == touch_id, col(Touch.status) == TouchStatus.QUEUED)
            .values(
                status=TouchStatus.SENDING,
                lease_until=now + lease(SENDING_LEASE, rt.settings.lease_seconds),
            ),
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
        return _gather(session, row, spec, sender, held)


def _gather(
    session: Session, row: TouchRow, spec: SequenceSpec, sender: str | None, slots: SendSlots
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


def _finish(session: Session, touch_id: int, **values: object) -> TouchRow | None:
    """Compare-and-set out of `sending`; None when another worker already finished the touch."""
    done = changed_rows(
        session,
        update(Touch)
        .where(col(Touch.id) == touch_id, col(Touch.status).not_in(FINAL))
        .values(**values),
    )
    return load_touch(session, touch_id) if done == 1 else None


def _conclude(
    session: Session,
    claimed: ClaimedTouch,
    kind: ComplianceKind,
    now: datetime,
    *,
    log_detail: str,
    completed: bool = False,
    plan_next: bool = True,
    **values: object,
) -> Lead | None:
    """The touch's final status, then its step finished (logged, counted, next one planned);
    None when another worker already did it."""
    finished = _finish(session, claimed.touch_id, lease_until=None, **values)
    if finished is None:
        return None
    touch, enrollment, lead = finished
    finish_step(
        session,
        touch=touch,
        enrollment=enrollment,
        lead=lead,
        spec=claimed.spec,
        kind=kind,
        at=now,
        now=now,
        detail=log_detail,
        completed=completed,
        plan_next=plan_next,
    )
    return lead


def _record_sent(rt: Runtime, claimed: ClaimedTouch, subject: str) -> Delivery:
    now = rt.clock.now()
    with transaction(rt.engine) as session:
        lead = _conclude(
            session,
            claimed,
            ComplianceKind.TOUCH_SENT,
            now,
            log_detail=subject,
            completed=True,
            status=TouchStatus.SENT,
            completed_at=now,
            subject=subject,
            last_error=None,
        )
    if lead is None:
        return Delivery(DeliveryOutcome.ALREADY_FINISHED, "sent, already recorded")
    return Delivery(DeliveryOutcome.SENT)


def _record_failure(rt: Runtime, claimed: ClaimedTouch, error: SendError) -> Delivery:
    now = rt.clock.now()
    reason = str(error)[:900]
    permanent = isinstance(error, PermanentSendError) or claimed.attempts >= MAX_ATTEMPTS
    with transaction(rt.engine) as session:
        give_back_slots(session, team=rt.catalog.team, slots=claimed.slots)
        if not permanent:
            return _schedule_retry(rt, session, claimed, reason, now)
        if claimed.attempts >= MAX_ATTEMPTS and not isinstance(error, PermanentSendError):
            reason = f"gave up after {claimed.attempts} attempts: {reason}"
        bounced = isinstance(error, PermanentSendError) and error.suppress
        refused = isinstance(error, PermanentSendError) and 500 <= (error.code or 0) <= 599
        return _record_failed(session, claimed, reason, now, bounced=bounced, refused=refused)


def _schedule_retry(
    rt: Runtime, session: Session, claimed: ClaimedTouch, reason: str, now: datetime
) -> Delivery:
    """Back to `scheduled` after a jittered exponential backoff, capped at MAX_BACKOFF; a retry
    that would land outside the send window waits for its next opening."""
    base = timedelta(seconds=rt.settings.retry_base_seconds)
    delay = retry_delay(claimed.attempts, base=base, cap=MAX_BACKOFF, rng=rt.random)
    due = next_opening(now + delay, claimed.spec.calendar, claimed.zone)
    finished = _finish(
        session,
        claimed.touch_id,
        status=TouchStatus.SCHEDULED,
        due_at=due,
        lease_until=None,
        last_error=f"attempt {claimed.attempts}: {reason}",
    )
    if finished is None:
        return Delivery(DeliveryOutcome.ALREADY_FINISHED)
    count_on_commit(session, TOUCHES.labels(outcome="retry", sequence=claimed.spec.name))
    return Delivery(DeliveryOutcome.RETRY, f"in {int((due - now).total_seconds())}s: {reason}")


def _record_failed(
    session: Session,
    claimed: ClaimedTouch,
    reason: str,
    now: datetime,
    *,
    bounced: bool,
    refused: bool = False,
) -> Delivery:
    """`failed` for good; a bounced address (5.1.x) is suppressed, ending all it is in; any
    5xx refusal is a hard bounce to the guardrails (bounced_at)."""
    lead = _conclude(
        session,
        claimed,
        ComplianceKind.TOUCH_FAILED,
        now,
        log_detail=reason,
        plan_next=not bounced,  # a bad mailbox ends everything: nothing more to plan
        status=TouchStatus.FAILED,
        last_error=reason,
        detail=reason,
        bounced_at=now if refused else None,
    )
    if lead is None:
        return Delivery(DeliveryOutcome.ALREADY_FINISHED)
    if bounced:
        suppress_lead(session, lead, reason="email.bounced", at=now, now=now)
    return Delivery(DeliveryOutcome.FAILED, reason)
