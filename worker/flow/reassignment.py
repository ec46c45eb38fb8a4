"""Reassignment: `reassign_after` past a breach, the lead moves to the next rep of the pool.

The enrollment keeps `owner`, the rep the breach belongs to; `reassigned_to` works the lead from
then on (its emails go out from them, its tasks are theirs) and is credited with the touches
completed since (`touches_reassigned`), so the report counts both reps honestly.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, func, select

from models.compliance import ComplianceKind
from models.enrollment import OPEN_STATUSES, Enrollment
from models.lead import Lead
from worker.compliance import log
from worker.engine.tunables import REASSIGN_BATCH
from worker.flow.escalation import due_enrollments
from worker.notify.alerts import raise_alerts
from worker.specs.team import TeamSpec


def reassign_due(session: Session, *, team: TeamSpec, now: datetime) -> int:
    """Move every lead whose reassignment is due; returns how many enrollments moved."""
    rows = due_enrollments(session, Enrollment.sla_reassign_at, now, REASSIGN_BATCH)
    pool = team.alerts.pool if team.alerts and team.alerts.reassigns else []
    moved = 0
    for enrollment, lead in rows:
        enrollment.sla_reassign_at = None
        session.add(enrollment)
        open_now = enrollment.status in OPEN_STATUSES
        if not pool or not open_now or enrollment.reassigned_to is not None:
            continue
        target = next_rep(session, pool, enrollment.current_owner)
        if target is not None and target != enrollment.current_owner:
            moved += reassign_lead(session, lead, enrollment.current_owner, target, team, now)
    return moved


def next_rep(session: Session, pool: list[str], current: str | None) -> str | None:
    """Round robin: the rep after the current one; from outside the pool, whose turn it is."""
    if not pool:
        return None
    if current in pool:
        return pool[(pool.index(current) + 1) % len(pool)]
    turns = session.exec(
        select(func.count()).where(col(Enrollment.reassigned_to).is_not(None))
    ).one()
    return pool[int(turns) % len(pool)]


def reassign_lead(
    session: Session, lead: Lead, old: str | None, new: str, team: TeamSpec, now: datetime
) -> int:
    """The lead is `new`'s now, with every open enrollment `old` was working."""
    lead.owner = new
    session.add(lead)
    moving = session.exec(
        select(Enrollment).where(
            Enrollment.lead_id == lead.id, col(Enrollment.status).in_(OPEN_STATUSES)
        )
    ).all()
    moved = [e for e in moving if e.current_owner == old and e.reassigned_to is None]
    for enrollment in moved:
        enrollment.reassigned_to, enrollment.reassigned_at = new, now
        enrollment.sla_reassign_at = None
        session.add(enrollment)
        log.append(
            session,
            ComplianceKind.LEAD_REASSIGNED,
            at=now,
            lead_email=lead.email,
            enrollment=enrollment,
            detail=f"from {old or 'nobody'} after a missed SLA",
            data={"from": old, "to": new},
        )
        raise_alerts(
            session,
            enrollment=enrollment,
            lead_email=lead.email,
            level="reassigned",
            people=[new],
            team=team,
            text=(
                f"Reassigned to you: {lead.email} ({enrollment.sequence}) from "
                f"{old or 'nobody'} after a missed SLA; its next touches are yours"
            ),
            now=now,
        )
    return len(moved)
