"""Recording what a send did: the touch's final status and its finished step (logged, counted,
the next one planned), or a retry with backoff inside the send window; and the typed outcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import update
from sqlmodel import Session, col

from models.compliance import ComplianceKind
from models.lead import Lead
from models.touch import FINAL, Touch, TouchStatus
from worker.engine.db import changed_rows, transaction
from worker.engine.metrics import TOUCHES, count_on_commit
from worker.engine.runtime import Runtime
from worker.engine.tunables import MAX_ATTEMPTS, MAX_BACKOFF
from worker.flow.backoff import retry_delay
from worker.flow.enrollment import suppress_lead
from worker.flow.outgoing import ClaimedTouch
from worker.flow.scheduling import finish_step
from worker.flow.send_slots import give_back_slots
from worker.flow.touch_rows import TouchRow, load_touch
from worker.mail import PermanentSendError, SendError
from worker.specs.calendar import next_opening


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
    EXPIRED = "expired"  # claimed too late to send inside the lease: handed back, unsent


@dataclass(frozen=True)
class Delivery:
    outcome: DeliveryOutcome
    detail: str = ""  # the reason, for the log line (the touch row keeps it too)

    def __str__(self) -> str:
        return f"{self.outcome}: {self.detail}" if self.detail else str(self.outcome)


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


def record_sent(rt: Runtime, claimed: ClaimedTouch, subject: str) -> Delivery:
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


def record_failure(rt: Runtime, claimed: ClaimedTouch, error: SendError) -> Delivery:
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
