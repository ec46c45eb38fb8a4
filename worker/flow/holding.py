"""An out-of-office holds a lead's touches until its return date, apart from a manual pause."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session, col, select

from models.compliance import ComplianceKind
from models.enrollment import Enrollment, EnrollmentStatus
from models.lead import Lead
from models.touch import WAITING, Touch, TouchStatus
from worker.compliance import log
from worker.engine.tunables import HOLD_RELEASE_BATCH
from worker.specs.calendar import SendCalendar, next_opening
from worker.specs.versions import VersionStore


def hold_enrollments(
    session: Session, enrollments: list[Enrollment], lead: Lead, *, until: datetime, at: datetime
) -> list[str]:
    """Hold what has not gone out until `until` (the newest auto-reply's date wins)."""
    held = []
    for enrollment in enrollments:
        enrollment.held_until = until
        session.add(enrollment)
        if enrollment.status == EnrollmentStatus.ACTIVE:  # a paused one's touches are held already
            session.execute(
                update(Touch)
                .where(
                    col(Touch.enrollment_id) == enrollment.id,
                    col(Touch.status).in_((*WAITING, TouchStatus.QUEUED)),
                )
                .values(status=TouchStatus.HELD, lease_until=None)
            )
        log.append(
            session,
            ComplianceKind.ENROLLMENT_HELD,
            at=at,
            lead_email=lead.email,
            enrollment=enrollment,
            detail=f"auto-reply: touches held until {until.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
        )
        held.append(enrollment.sequence)
    return held


def release_touches(
    session: Session,
    enrollment: Enrollment,
    *,
    not_before: datetime,
    calendar: SendCalendar,
    zone: ZoneInfo,
) -> None:
    """Held touches go back to the schedule, none before `not_before`, inside the window."""
    for touch in session.exec(
        select(Touch).where(Touch.enrollment_id == enrollment.id, Touch.status == TouchStatus.HELD)
    ).all():
        touch.due_at = next_opening(max(touch.due_at, not_before), calendar, zone)
        touch.status = TouchStatus.SCHEDULED
        session.add(touch)


def release_holds(session: Session, *, versions: VersionStore, now: datetime) -> int:
    """Holds whose date has come end by themselves (the database is the schedule)."""
    rows = session.exec(
        select(Enrollment, Lead)
        .join(Lead, col(Lead.id) == Enrollment.lead_id)
        .where(Enrollment.status == EnrollmentStatus.ACTIVE, col(Enrollment.held_until) <= now)
        .order_by(col(Enrollment.held_until))
        .limit(HOLD_RELEASE_BATCH)
    ).all()
    for enrollment, lead in rows:
        spec = versions.get(session, enrollment.version)
        until = enrollment.held_until or now
        release_touches(
            session,
            enrollment,
            not_before=until,
            calendar=spec.calendar,
            zone=spec.zone_for(lead.timezone),
        )
        enrollment.held_until = None
        session.add(enrollment)
        log.append(
            session,
            ComplianceKind.ENROLLMENT_RESUMED,
            at=until,
            lead_email=lead.email,
            enrollment=enrollment,
            detail="auto-reply hold ended",
        )
    return len(rows)
