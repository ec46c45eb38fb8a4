"""Lost work comes back from the database: touches whose lease ran out are re-driven, up to
MAX_REDRIVES times mid-send; a touch that keeps killing its worker then fails with the reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, update
from sqlmodel import Session, col, select

from models.compliance import ComplianceKind
from models.touch import Touch, TouchStatus
from worker.engine.db import changed_rows
from worker.engine.tunables import CLAIM_BATCH, MAX_REDRIVES
from worker.flow.scheduling import finish_step
from worker.flow.touch_rows import load_touch
from worker.specs.versions import VersionStore


@dataclass(frozen=True)
class Redriven:
    redriven: int = 0  # back to `scheduled`, due now (same Message-ID)
    abandoned: int = 0  # `failed`: re-driven MAX_REDRIVES times mid-send already


def abandoned_reason(redrives: int) -> str:
    return f"abandoned after {redrives} re-drives (worker died or timed out while sending)"


def redrive_expired_leases(
    session: Session,
    *,
    now: datetime,
    versions: VersionStore,
    max_redrives: int = MAX_REDRIVES,
) -> Redriven:
    """Rows whose message or worker was lost go back to `scheduled`, due now; one lost mid-send
    counts a re-drive, and one already re-driven `max_redrives` times ends `failed` instead."""
    abandoned = abandon_lost_sends(session, now=now, versions=versions, max_redrives=max_redrives)
    was_sending = col(Touch.status) == TouchStatus.SENDING
    redriven = changed_rows(
        session,
        update(Touch)
        .where(
            col(Touch.status).in_((TouchStatus.QUEUED, TouchStatus.SENDING)),
            col(Touch.lease_until) < now,
        )
        .values(
            status=TouchStatus.SCHEDULED,
            due_at=now,
            lease_until=None,
            redrives=col(Touch.redrives) + case((was_sending, 1), else_=0),
        ),
    )
    return Redriven(redriven=redriven, abandoned=abandoned)


def abandon_lost_sends(
    session: Session,
    *,
    now: datetime,
    versions: VersionStore,
    max_redrives: int = MAX_REDRIVES,
    limit: int = CLAIM_BATCH,
) -> int:
    """Fail (logged, next step planned, as any failure) the touches lost mid-send once more
    after `max_redrives` re-drives: a template that hangs or a send that kills its worker."""
    lost = and_(
        col(Touch.status) == TouchStatus.SENDING,
        col(Touch.lease_until) < now,
        col(Touch.redrives) >= max_redrives,
    )
    rows = session.exec(
        select(Touch.id, Touch.redrives).where(lost).order_by(col(Touch.id)).limit(limit)
    ).all()
    abandoned = 0
    for touch_id, redrives in rows:
        reason = abandoned_reason(redrives)
        ended = update(Touch).where(col(Touch.id) == touch_id, lost)
        values = {"status": TouchStatus.FAILED, "lease_until": None, "detail": reason}
        if changed_rows(session, ended.values(**values, last_error=reason)) != 1:
            continue  # its worker recorded it after all
        touch, enrollment, lead = load_touch(session, touch_id)  # type: ignore[arg-type]  # stored
        finish_step(
            session,
            touch=touch,
            enrollment=enrollment,
            lead=lead,
            spec=versions.get(session, enrollment.version),
            kind=ComplianceKind.TOUCH_FAILED,
            at=now,
            now=now,
            detail=reason,
        )
        abandoned += 1
    return abandoned


def return_unstarted(session: Session, touch_id: int, *, now: datetime) -> int:
    """A queued touch a stopping worker will not start goes back to `scheduled`, due now (1),
    unless another worker already has it (0)."""
    return changed_rows(
        session,
        update(Touch)
        .where(col(Touch.id) == touch_id, col(Touch.status) == TouchStatus.QUEUED)
        .values(status=TouchStatus.SCHEDULED, due_at=now, lease_until=None),
    )
