"""Events -> lead upserts, enrollments, exits and suppressions (manual touches: tasks.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from models.compliance import ComplianceKind
from models.enrollment import Enrollment, EnrollmentStatus
from models.event import Event, EventIn, LeadIn
from models.lead import Lead
from worker.catalog import Catalog
from worker.compliance import log
from worker.compliance.recording import refresh_verdict, start_sla
from worker.compliance.verdicts import Exit
from worker.scheduling import cancel_pending_touches, plan_step
from worker.sequences import SUPPRESSING_EVENTS, SequenceSpec
from worker.tasks import complete_task, log_manual_touch
from worker.versions import VersionStore

logger = logging.getLogger("followup.enrollment")
OPEN_STATUSES = (EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED)


@dataclass
class EventOutcome:
    event_id: int
    duplicate: bool = False
    enrolled: list[str] = field(default_factory=list)
    exited: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # why a trigger enrolled nobody
    suppressed: bool = False
    completed_tasks: int = 0


def upsert_lead(session: Session, data: LeadIn, *, now: datetime) -> tuple[Lead, bool]:
    """Create or update by email; fields not given keep stored values. Returns (lead, created)."""
    lead = session.exec(select(Lead).where(Lead.email == data.email)).first()
    created = lead is None
    if lead is None:
        lead = Lead(email=data.email, created_at=now, updated_at=now, fields={})
    for name in ("first_name", "last_name", "company", "owner", "timezone"):
        value = getattr(data, name)
        if value is not None:
            setattr(lead, name, value)
    if data.fields:
        lead.fields = {**(lead.fields or {}), **data.fields}
    lead.updated_at = now
    session.add(lead)
    if created:
        session.flush()  # the id is needed by what follows; an update can wait for the commit
    return lead, created


def record_event(session: Session, event: EventIn, *, now: datetime) -> tuple[Event, bool]:
    """Store an event once per idempotency key; returns (event, created)."""
    if event.id is not None:
        existing = session.exec(select(Event).where(Event.key == event.id)).first()
        if existing is not None:
            return existing, False
    row = Event(
        key=event.id,
        type=event.type,
        lead_email=event.lead.email,
        payload=event.model_dump(mode="json"),
        occurred_at=event.occurred_at or now,
        received_at=now,
    )
    if event.id is None:  # no key, no possible clash: skip the savepoint
        session.add(row)
        session.flush()
        return row, True
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # the same key arrived concurrently: the other insert won
        existing = session.exec(select(Event).where(Event.key == event.id)).first()
        if existing is None:
            raise
        return existing, False
    return row, True


def apply_event(
    session: Session, event_row: Event, *, catalog: Catalog, versions: VersionStore, now: datetime
) -> EventOutcome:
    """Carry out an event's meaning once; a processed event is a no-op."""
    outcome = EventOutcome(event_id=event_row.id or 0)
    if event_row.processed_at is not None:
        outcome.duplicate = True
        return outcome
    event = EventIn.model_validate(event_row.payload)
    at = min(event_row.occurred_at, now)
    lead, new_lead = upsert_lead(session, event.lead, now=now)
    if event.type in SUPPRESSING_EVENTS:
        outcome.exited += suppress_lead(session, lead, reason=event.type, at=at, now=now)
        outcome.suppressed = True
    elif event.type == "task.completed":
        outcome.completed_tasks = complete_task(
            session,
            lead,
            step=event.step,
            sequence=event.sequence,
            at=at,
            versions=versions,
            now=now,
        )
    elif event.type == "touch.logged":
        enrollments = _open_enrollments(session, lead)
        log_manual_touch(session, lead, enrollments, detail=event.detail, at=at, now=now)
    for enrollment in [] if new_lead else _open_enrollments(session, lead):
        spec = versions.get(session, enrollment.version)
        if event.type in spec.exit_on:
            exit_enrollment(session, enrollment, lead, reason=event.type, at=at, now=now)
            outcome.exited.append(enrollment.sequence)
    for spec in catalog.triggered_by(event.type):
        why_not = enroll(
            session, lead, spec, versions=versions, at=at, now=now, event_id=event_row.id
        )
        (outcome.ignored if why_not else outcome.enrolled).append(
            f"{spec.name}: {why_not}" if why_not else spec.name
        )
    event_row.processed_at = now
    session.add(event_row)
    return outcome


def enroll(
    session: Session,
    lead: Lead,
    spec: SequenceSpec,
    *,
    versions: VersionStore,
    at: datetime,
    now: datetime,
    event_id: int | None = None,
) -> str | None:
    """Start `spec` for `lead` and plan its first touch; returns why not, or None when enrolled."""
    why_not = _why_not_enroll(session, lead, spec, versions)
    if why_not:
        return why_not
    enrollment = Enrollment(
        lead_id=lead.id,  # type: ignore[arg-type]  # the lead was flushed: it has its id
        sequence=spec.name,
        version=versions.pin(session, spec, now=now),
        owner=lead.owner,
        enrolled_at=at,
        trigger_event_id=event_id,
    )
    start_sla(enrollment, spec, lead.timezone)
    session.add(enrollment)
    session.flush()
    plan_step(session, enrollment=enrollment, lead=lead, spec=spec, step=spec.steps[0], after=at)
    log.append(
        session,
        ComplianceKind.ENROLLMENT_STARTED,
        at=at,
        lead=lead.email,
        enrollment=enrollment,
        detail=f"version {enrollment.version[:12]}",
    )
    return None


def _why_not_enroll(
    session: Session, lead: Lead, spec: SequenceSpec, versions: VersionStore
) -> str | None:
    """Suppression, `reenroll` and `exclusive` rules; None when the lead may enroll."""
    if lead.suppressed_at is not None:
        return f"{lead.email} is suppressed ({lead.suppressed_reason})"
    previous = session.exec(
        select(Enrollment.status).where(
            Enrollment.lead_id == lead.id, Enrollment.sequence == spec.name
        )
    ).all()
    if previous and (spec.reenroll == "never" or any(s in OPEN_STATUSES for s in previous)):
        return f"{lead.email} was already enrolled"
    if spec.exclusive:
        for other in _open_enrollments(session, lead):
            if versions.get(session, other.version).exclusive:
                logger.info(
                    "%s is in exclusive %r; trigger for %r ignored",
                    lead.email,
                    other.sequence,
                    spec.name,
                )
                return f"{lead.email} is already in exclusive sequence {other.sequence!r}"
    return None


def exit_enrollment(
    session: Session,
    enrollment: Enrollment,
    lead: Lead,
    *,
    reason: str,
    at: datetime,
    now: datetime,
) -> None:
    """End an enrollment: cancel what has not gone out, decide its SLA, log the exit."""
    enrollment.status = EnrollmentStatus.EXITED
    enrollment.exit_reason = reason
    enrollment.ended_at = at
    session.add(enrollment)
    cancel_pending_touches(session, enrollment_id=enrollment.id, reason=f"exited: {reason}")  # type: ignore[arg-type]
    log.append(
        session,
        ComplianceKind.ENROLLMENT_EXITED,
        at=at,
        lead=lead.email,
        enrollment=enrollment,
        detail=reason,
    )
    refresh_verdict(session, enrollment, lead.email, now, exit=Exit(at, reason))


def suppress_lead(
    session: Session, lead: Lead, *, reason: str, at: datetime, now: datetime
) -> list[str]:
    """Never mail this address again, and end everything it is enrolled in (names returned)."""
    if lead.suppressed_at is None:
        lead.suppressed_at = at
        lead.suppressed_reason = reason
        session.add(lead)
    exited = []
    for enrollment in _open_enrollments(session, lead):
        exit_enrollment(session, enrollment, lead, reason=reason, at=at, now=now)
        exited.append(enrollment.sequence)
    return exited


def _open_enrollments(session: Session, lead: Lead) -> list[Enrollment]:
    return list(
        session.exec(
            select(Enrollment).where(
                Enrollment.lead_id == lead.id, col(Enrollment.status).in_(OPEN_STATUSES)
            )
        ).all()
    )
