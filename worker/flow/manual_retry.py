"""`followup touches retry --failed`: chosen failed touches are re-driven on purpose, with the
same Message-ID and their attempts reset; an enrollment that only ended because of them is
reopened, one that exited (reply, unsubscribe, bounce) never is."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from models.compliance import ComplianceEntry, ComplianceKind
from models.enrollment import OPEN_STATUSES, Enrollment, EnrollmentStatus
from models.touch import Touch, TouchKind, TouchStatus
from worker.flow.touch_rows import TouchRow, touch_rows

log = logging.getLogger("followup.retry")


@dataclass(frozen=True)
class RetryChoice:
    """Which failed touches: failed at or after `since`, of `sequence`, whose reason contains
    `reason` (case-insensitive); each None: any."""

    since: datetime | None = None
    sequence: str | None = None
    reason: str | None = None


@dataclass
class RetryResult:
    retried: list[int] = field(default_factory=list)  # touch ids due again now
    skipped: dict[int, str] = field(default_factory=dict)  # touch id -> why not


def retry_failed(
    session: Session, choice: RetryChoice, *, now: datetime, dry_run: bool = False
) -> RetryResult:
    """Failed email touches matching `choice` back to `scheduled`, due now (attempts and
    re-drives reset, Message-ID kept), each logged; `dry_run` only says which."""
    result = RetryResult()
    for touch, enrollment, lead in _chosen(session, choice):
        why_not = _why_not_retry(session, enrollment, lead.suppressed_at is not None)
        if why_not:
            result.skipped[touch.id] = why_not  # type: ignore[index]  # stored rows have ids
            continue
        result.retried.append(touch.id)  # type: ignore[arg-type]  # stored rows have ids
        if dry_run:
            continue
        log.info(
            "touch %s retried by hand: %s %s step %s, Message-ID %s (was: %s)",
            touch.id,
            lead.email,
            enrollment.sequence,
            touch.step,
            touch.message_id or "-",
            touch.detail,
            extra={"touch_id": touch.id, "lead_id": lead.id, "enrollment_id": enrollment.id},
        )
        if enrollment.status == EnrollmentStatus.COMPLETED:
            enrollment.status, enrollment.ended_at = EnrollmentStatus.ACTIVE, None
            session.add(enrollment)
        touch.status, touch.due_at, touch.lease_until = TouchStatus.SCHEDULED, now, None
        touch.attempts, touch.redrives, touch.last_error = 0, 0, None
        touch.detail = f"retried by hand after: {touch.detail}"[:1000]
        touch.bounced_at = None
        session.add(touch)
    session.flush()
    return result


def _chosen(session: Session, choice: RetryChoice) -> list[TouchRow]:
    query = touch_rows().where(
        col(Touch.status) == TouchStatus.FAILED, col(Touch.kind) == TouchKind.EMAIL
    )
    if choice.sequence is not None:
        query = query.where(col(Enrollment.sequence) == choice.sequence)
    if choice.reason is not None:
        query = query.where(col(Touch.detail).icontains(choice.reason, autoescape=True))
    if choice.since is not None:
        failed_since = select(ComplianceEntry.touch_id).where(
            ComplianceEntry.kind == ComplianceKind.TOUCH_FAILED,
            col(ComplianceEntry.at) >= choice.since,
        )
        query = query.where(col(Touch.id).in_(failed_since))
    return list(session.exec(query.order_by(col(Touch.id))).all())


def _why_not_retry(session: Session, enrollment: Enrollment, suppressed: bool) -> str | None:
    """Never to a suppressed address nor after an exit; a completed enrollment is reopened only
    while the lead has no other open one in that sequence."""
    if suppressed:
        return "address suppressed"
    if enrollment.status in OPEN_STATUSES:
        return None
    if enrollment.status != EnrollmentStatus.COMPLETED:
        return f"enrollment {enrollment.status}"
    other = session.exec(
        select(Enrollment.id).where(
            Enrollment.lead_id == enrollment.lead_id,
            Enrollment.sequence == enrollment.sequence,
            col(Enrollment.status).in_(OPEN_STATUSES),
        )
    ).first()
    return "the lead is enrolled in this sequence again" if other is not None else None
