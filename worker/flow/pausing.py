"""Pause and resume enrollments (an owner on holiday) without losing their schedule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from models.enrollment import Enrollment, EnrollmentStatus, worked_by
from models.lead import Lead
from models.touch import WAITING, Touch, TouchStatus
from worker.specs.calendar import next_opening
from worker.specs.versions import VersionStore


@dataclass(frozen=True)
class Selection:
    """Which enrollments: any combination of lead, owner and sequence (at least one)."""

    email: str | None = None
    owner: str | None = None
    sequence: str | None = None

    def __post_init__(self) -> None:
        if not (self.email or self.owner or self.sequence):
            raise ValueError("name at least one of --email, --owner or --sequence")

    def query(self, status: EnrollmentStatus) -> Select[Enrollment, Lead]:
        statement = (
            select(Enrollment, Lead)
            .join(Lead, col(Lead.id) == Enrollment.lead_id)
            .where(Enrollment.status == status)
        )
        if self.email:
            statement = statement.where(Lead.email == self.email.strip().lower())
        if self.owner:
            statement = statement.where(worked_by(self.owner.strip().lower()))
        if self.sequence:
            statement = statement.where(Enrollment.sequence == self.sequence)
        return statement


def pause(session: Session, selection: Selection, *, now: datetime) -> int:
    """Hold every touch that has not gone out; returns how many enrollments were paused."""
    rows = session.exec(selection.query(EnrollmentStatus.ACTIVE)).all()
    for enrollment, _lead in rows:
        enrollment.status, enrollment.paused_at = EnrollmentStatus.PAUSED, now
        session.add(enrollment)
        session.execute(
            update(Touch)
            .where(
                col(Touch.enrollment_id) == enrollment.id,
                col(Touch.status).in_((*WAITING, TouchStatus.QUEUED)),
            )
            .values(status=TouchStatus.HELD, lease_until=None)
        )
    return len(rows)


def resume(session: Session, selection: Selection, *, now: datetime, versions: VersionStore) -> int:
    """Each held touch keeps the wait it had left, then moves to its lead's next window opening."""
    rows = session.exec(selection.query(EnrollmentStatus.PAUSED)).all()
    for enrollment, lead in rows:
        spec = versions.get(session, enrollment.version)
        zone = spec.zone_for(lead.timezone)
        paused_at = enrollment.paused_at or now
        held = session.exec(
            select(Touch).where(
                Touch.enrollment_id == enrollment.id, Touch.status == TouchStatus.HELD
            )
        ).all()
        hold = (
            enrollment.held_until if enrollment.held_until and enrollment.held_until > now else now
        )
        for touch in held:  # an auto-reply's hold still running keeps them until its date
            remaining = max(touch.due_at - paused_at, timedelta(0))
            touch.due_at = next_opening(max(now + remaining, hold), spec.calendar, zone)
            touch.status = TouchStatus.SCHEDULED
            session.add(touch)
        enrollment.status, enrollment.paused_at = EnrollmentStatus.ACTIVE, None
        if enrollment.held_until is not None and enrollment.held_until <= now:
            enrollment.held_until = None
        session.add(enrollment)
    return len(rows)
