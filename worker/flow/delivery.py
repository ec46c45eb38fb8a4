"""WHERE AN EMAIL IS SENT: claim the touch -> render -> send -> record, each step idempotent."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from models.compliance import ComplianceKind
from models.enrollment import Enrollment, EnrollmentStatus
from models.lead import Lead
from models.touch import FINAL, Touch, TouchStatus
from worker.engine.db import changed_rows, transaction
from worker.engine.runtime import Runtime
from worker.flow.enrollment import suppress_lead
from worker.flow.mailbox_limits import mailbox_day, release_send, reserve_send
from worker.flow.outgoing import (
    Job,
    address_of,
    compose_email,
    message_id_for,
    sender_for,
    thread_parent,
)
from worker.flow.scheduling import SENDING_LEASE, finish_step, lease
from worker.mail import PermanentSendError, SendError
from worker.specs.calendar import is_open, next_opening
from worker.specs.rendering import RenderError
from worker.specs.sequences import SequenceSpec, StepSpec

MAX_ATTEMPTS = 12
MAX_BACKOFF = timedelta(hours=1)


def deliver_touch(rt: Runtime, touch_id: int) -> str:
    """Send one touch; returns what happened. A touch that is not `queued` is left alone."""
    job = _claim(rt, touch_id)
    if isinstance(job, str):
        return job
    try:
        email = compose_email(rt, job)
        rt.sender.send(email)
    except RenderError as exc:
        return _record_failure(rt, job, PermanentSendError(f"render error: {exc}"))
    except SendError as exc:
        return _record_failure(rt, job, exc)
    return _record_sent(rt, job, email.subject)


def _claim(rt: Runtime, touch_id: int) -> Job | str:
    now = rt.clock.now()
    with transaction(rt.engine) as session:
        claimed = changed_rows(
            session,
            update(Touch)
            .where(col(Touch.id) == touch_id, col(Touch.status) == TouchStatus.QUEUED)
            .values(
                status=TouchStatus.SENDING,
                lease_until=now + lease(SENDING_LEASE, rt.settings.lease_seconds),
                attempts=col(Touch.attempts) + 1,
            ),
        )
        if claimed != 1:
            return "not queued (already handled)"
        touch, enrollment, lead = _load(session, touch_id)
        spec = rt.versions.get(session, enrollment.version)
        sender = sender_for(rt, spec, enrollment.current_owner)
        held = _hold_back(rt, session, touch, enrollment, lead, spec, sender, now)
        if held is not None:
            touch.lease_until = None
            session.add(touch)
            return held
        step = spec.step(touch.step)
        assert step is not None
        if touch.message_id is None:
            touch.message_id = message_id_for(sender)
        touch.sender = sender
        session.add(touch)
        return Job(
            touch_id=touch_id,
            lead_context=lead.template_context(),
            lead_email=lead.email,
            owner_email=enrollment.current_owner,
            spec=spec,
            step=step,
            sender=sender,
            message_id=touch.message_id,
            attempts=touch.attempts,
            mailbox_day=_day(rt, sender, now),
            thread_parent=thread_parent(session, enrollment, spec) if step.thread else None,
        )


def _hold_back(
    rt: Runtime,
    session: Session,
    touch: Touch,
    enrollment: Enrollment,
    lead: Lead,
    spec: SequenceSpec,
    sender: str | None,
    now: datetime,
) -> str | None:
    """Why the claimed touch must not go out now (and its new status), or None to send it."""
    why_not = _why_not_send(enrollment, lead, spec.step(touch.step))
    if why_not:
        touch.status, touch.detail = TouchStatus.CANCELLED, why_not
        return f"cancelled: {why_not}"
    if enrollment.status == EnrollmentStatus.PAUSED:
        touch.status = TouchStatus.HELD
        return "held: enrollment paused"
    zone = spec.zone_for(lead.timezone)
    if not is_open(now, spec.calendar, zone):
        touch.status, touch.due_at = TouchStatus.DEFERRED, next_opening(now, spec.calendar, zone)
        touch.detail = "outside the send window when picked up"
        return "deferred: outside the send window"
    address = address_of(sender)
    next_slot = reserve_send(
        session, address=address, limits=rt.catalog.team.owner(address), now=now
    )
    if next_slot is not None:
        touch.status = TouchStatus.DEFERRED
        touch.due_at = next_opening(next_slot, spec.calendar, zone)
        touch.detail = f"mailbox limit of {address} reached"
        return f"deferred: mailbox limit of {address}"
    return None


def _why_not_send(enrollment: Enrollment, lead: Lead, step: StepSpec | None) -> str | None:
    if lead.suppressed_at is not None:
        return f"address suppressed ({lead.suppressed_reason})"
    if enrollment.status not in (EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED):
        return f"enrollment {enrollment.status}"
    if step is None or step.email is None:
        return "step no longer in the pinned sequence"
    return None


def _day(rt: Runtime, sender: str | None, now: datetime) -> str | None:
    limits = rt.catalog.team.owner(address_of(sender))
    return mailbox_day(limits, now) if limits else None


def _finish(
    session: Session, touch_id: int, **values: object
) -> tuple[Touch, Enrollment, Lead] | None:
    """Compare-and-set out of `sending`; None when another worker already finished the touch."""
    done = changed_rows(
        session,
        update(Touch)
        .where(col(Touch.id) == touch_id, col(Touch.status).not_in(FINAL))
        .values(**values),
    )
    return _load(session, touch_id) if done == 1 else None


def _record_sent(rt: Runtime, job: Job, subject: str) -> str:
    now = rt.clock.now()
    with transaction(rt.engine) as session:
        finished = _finish(
            session,
            job.touch_id,
            status=TouchStatus.SENT,
            completed_at=now,
            subject=subject,
            lease_until=None,
            last_error=None,
        )
        if finished is None:
            return "sent (already recorded)"
        touch, enrollment, lead = finished
        finish_step(
            session,
            touch=touch,
            enrollment=enrollment,
            lead=lead,
            spec=job.spec,
            kind=ComplianceKind.TOUCH_SENT,
            at=now,
            now=now,
            detail=subject,
            completed=True,
        )
    return "sent"


def _record_failure(rt: Runtime, job: Job, error: SendError) -> str:
    now = rt.clock.now()
    reason = str(error)[:900]
    permanent = isinstance(error, PermanentSendError) or job.attempts >= MAX_ATTEMPTS
    with transaction(rt.engine) as session:
        if job.mailbox_day is not None:
            address = address_of(job.sender)
            release_send(
                session, address=address, limits=rt.catalog.team.owner(address), day=job.mailbox_day
            )
        if not permanent:
            delay = min(
                timedelta(seconds=rt.settings.retry_base_seconds * 2 ** (job.attempts - 1)),
                MAX_BACKOFF,
            )
            finished = _finish(
                session,
                job.touch_id,
                status=TouchStatus.SCHEDULED,
                due_at=now + delay,
                lease_until=None,
                last_error=f"attempt {job.attempts}: {reason}",
            )
            if finished is None:
                return "already finished"
            return f"retry in {int(delay.total_seconds())}s: {reason}"
        if job.attempts >= MAX_ATTEMPTS and not isinstance(error, PermanentSendError):
            reason = f"gave up after {job.attempts} attempts: {reason}"
        finished = _finish(
            session,
            job.touch_id,
            status=TouchStatus.FAILED,
            lease_until=None,
            last_error=reason,
            detail=reason,
        )
        if finished is None:
            return "already finished"
        touch, enrollment, lead = finished
        bounced = isinstance(error, PermanentSendError) and error.suppress
        finish_step(
            session,
            touch=touch,
            enrollment=enrollment,
            lead=lead,
            spec=job.spec,
            kind=ComplianceKind.TOUCH_FAILED,
            at=now,
            now=now,
            detail=reason,
            plan_next=not bounced,  # a bad mailbox ends everything: nothing more to plan
        )
        if bounced:
            suppress_lead(session, lead, reason="email.bounced", at=now, now=now)
    return f"failed: {reason}"


def _load(session: Session, touch_id: int) -> tuple[Touch, Enrollment, Lead]:
    """The touch with its enrollment and lead, in one query."""
    row = session.exec(
        select(Touch, Enrollment, Lead)
        .join(Enrollment, col(Enrollment.id) == Touch.enrollment_id)
        .join(Lead, col(Lead.id) == Touch.lead_id)
        .where(col(Touch.id) == touch_id)
        .execution_options(populate_existing=True)
    ).one()
    return row[0], row[1], row[2]
