"""Events -> lead upserts, enrollments, exits and suppressions (manual touches: tasks.py)."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from models.compliance import ComplianceKind
from models.enrollment import Enrollment, EnrollmentStatus
from models.event import Event, EventIn, LeadIn
from models.lead import Lead
from worker.compliance import log
from worker.compliance.recording import refresh_verdict, start_sla
from worker.compliance.verdicts import Exit
from worker.flow.manual_tasks import complete_task, log_manual_touch
from worker.flow.scheduling import cancel_pending_touches, plan_step
from worker.notify.outbox import iso, publish
from worker.specs.catalog import Catalog
from worker.specs.sequences import SUPPRESSING_EVENTS, SequenceSpec
from worker.specs.team import TeamSpec
from worker.specs.versions import VersionStore

logger = logging.getLogger("followup.enrollment")
BUILTIN_MEANINGS = frozenset({*SUPPRESSING_EVENTS, "task.completed", "touch.logged"})
# What CRMs hear (webhooks) when a lead replies, bounces or unsubscribes, whatever the source:
# the API, an import, the mailbox watcher, an SMTP 5.1.x or the unsubscribe link.
LEAD_EVENTS = {
    "email.replied": "lead.replied",
    "email.bounced": "lead.bounced",
    "lead.unsubscribed": "lead.unsubscribed",
}
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
    if event.type == "email.replied":
        _publish_lead_event(session, lead, event.type, at=at, exited=outcome.exited)
    for spec in catalog.triggered_by(event.type):
        why_not = enroll(
            session,
            lead,
            spec,
            versions=versions,
            team=catalog.team,
            at=at,
            now=now,
            event_id=event_row.id,
        )
        (outcome.ignored if why_not else outcome.enrolled).append(
            f"{spec.name}: {why_not}" if why_not else spec.name
        )
    event_row.processed_at = now
    session.add(event_row)
    return outcome


def apply_events(
    session: Session, rows: list[Event], *, catalog: Catalog, versions: VersionStore, now: datetime
) -> list[EventOutcome]:
    """Many events at once (imports), with apply_event's meaning: plain triggers that end nothing
    running are enrolled in batches; everything else goes through apply_event."""
    pending = [row for row in rows if row.processed_at is None]
    emails = [row.lead_email for row in pending]
    leads = {
        lead.email: lead for lead in session.exec(select(Lead).where(col(Lead.email).in_(emails)))
    }
    exits = _exit_types(session, [lead.id for lead in leads.values()], versions)
    once = {email for email, n in Counter(emails).items() if n == 1}
    outcomes: dict[int, EventOutcome] = {}
    batches: dict[tuple[str, datetime], list[tuple[Lead, Event]]] = defaultdict(list)
    for row in pending:
        lead = leads.get(row.lead_email)
        plain = row.type not in BUILTIN_MEANINGS and _names_only_the_email(row)
        exits_here = lead is not None and row.type in exits.get(lead.id, ())  # type: ignore[arg-type]  # stored: has an id
        if plain and lead is not None and not exits_here and row.lead_email in once:
            batches[(row.type, min(row.occurred_at, now))].append((lead, row))
        else:
            outcomes[id(row)] = apply_event(
                session, row, catalog=catalog, versions=versions, now=now
            )
    for (event_type, at), members in batches.items():
        for row in (row for _, row in members):
            outcomes[id(row)] = EventOutcome(event_id=row.id or 0)
            row.processed_at = now
            session.add(row)
        for spec in catalog.triggered_by(event_type):
            pairs = [(lead, row.id) for lead, row in members]
            results = enroll_many(
                session, pairs, spec, versions=versions, team=catalog.team, at=at, now=now
            )
            for (_, row), why_not in zip(members, results, strict=True):
                outcome = outcomes[id(row)]
                (outcome.ignored if why_not else outcome.enrolled).append(
                    f"{spec.name}: {why_not}" if why_not else spec.name
                )
    return [outcomes[id(row)] for row in pending]


def _exit_types(
    session: Session, lead_ids: list[int | None], versions: VersionStore
) -> dict[int, set[str]]:
    """Per lead, the event types that would end one of its open enrollments."""
    running = session.exec(
        select(Enrollment.lead_id, Enrollment.version).where(
            col(Enrollment.lead_id).in_(lead_ids), col(Enrollment.status).in_(OPEN_STATUSES)
        )
    ).all()
    exits: dict[int, set[str]] = defaultdict(set)
    for lead_id, version in running:
        exits[lead_id].update(versions.get(session, version).exit_on)
    return exits


def _names_only_the_email(row: Event) -> bool:
    """The event carries no lead fields to store, so the stored lead needs no upsert."""
    lead = row.payload.get("lead", {})
    return not any(value for key, value in lead.items() if key != "email")


def enroll(
    session: Session,
    lead: Lead,
    spec: SequenceSpec,
    *,
    versions: VersionStore,
    team: TeamSpec,
    at: datetime,
    now: datetime,
    event_id: int | None = None,
) -> str | None:
    """Start `spec` for `lead` and plan its first touch; returns why not, or None when enrolled."""
    pairs = [(lead, event_id)]
    return enroll_many(session, pairs, spec, versions=versions, team=team, at=at, now=now)[0]


def enroll_many(
    session: Session,
    leads: Sequence[tuple[Lead, int | None]],
    spec: SequenceSpec,
    *,
    versions: VersionStore,
    team: TeamSpec,
    at: datetime,
    now: datetime,
) -> list[str | None]:
    """Start `spec` for (lead, trigger event id) pairs with one flush; why not, or None, each."""
    refusals = _refusals(session, [lead for lead, _ in leads], spec, versions)
    version = versions.pin(session, spec, now=now)
    results: list[str | None] = []
    started: list[tuple[Enrollment, Lead]] = []
    for lead, event_id in leads:
        results.append(refusals.get(lead.id))  # type: ignore[arg-type]  # stored leads have ids
        if lead.id in refusals:
            continue
        refusals[lead.id] = f"{lead.email} was already enrolled"  # type: ignore[index]  # twice in one batch
        enrollment = Enrollment(
            lead_id=lead.id,  # type: ignore[arg-type]  # the lead was flushed: it has its id
            sequence=spec.name,
            version=version,
            owner=lead.owner,
            enrolled_at=at,
            trigger_event_id=event_id,
        )
        start_sla(enrollment, spec, lead.timezone, team)
        session.add(enrollment)
        started.append((enrollment, lead))
    session.flush()  # one INSERT for the batch gives every enrollment its id
    for enrollment, lead in started:
        plan_step(
            session, enrollment=enrollment, lead=lead, spec=spec, step=spec.steps[0], after=at
        )
        log.append(
            session,
            ComplianceKind.ENROLLMENT_STARTED,
            at=at,
            lead=lead.email,
            enrollment=enrollment,
            detail=f"version {enrollment.version[:12]}",
            data={"version": enrollment.version, "sla": _sla_data(enrollment, spec)},
        )
    return results


def _sla_data(enrollment: Enrollment, spec: SequenceSpec) -> dict[str, object] | None:
    """The promise an enrollment started under, as webhook data."""
    if spec.sla is None:
        return None
    moments = {
        "first_touch_due": enrollment.sla_first_due_at,
        "touches_due": enrollment.sla_window_due_at,
        "first_touch_at_risk": enrollment.sla_first_risk_at,
        "touches_at_risk": enrollment.sla_window_risk_at,
    }
    terms: dict[str, object] = {k: iso(v) for k, v in moments.items() if v is not None}
    return {**terms, "clock": spec.sla.clock, "min_touches": enrollment.sla_min_touches}


def _refusals(
    session: Session, leads: list[Lead], spec: SequenceSpec, versions: VersionStore
) -> dict[int, str]:
    """Suppression, `reenroll` and `exclusive` rules for many leads: lead id -> why not."""
    by_id = {lead.id: lead for lead in leads if lead.id is not None}
    reasons = {
        lead_id: f"{lead.email} is suppressed ({lead.suppressed_reason})"
        for lead_id, lead in by_id.items()
        if lead.suppressed_at is not None
    }
    previous = session.exec(
        select(Enrollment.lead_id, Enrollment.status).where(
            col(Enrollment.lead_id).in_(by_id), Enrollment.sequence == spec.name
        )
    ).all()
    for lead_id, status in previous:
        if spec.reenroll == "never" or status in OPEN_STATUSES:
            reasons.setdefault(lead_id, f"{by_id[lead_id].email} was already enrolled")
    if spec.exclusive:
        running = session.exec(
            select(Enrollment.lead_id, Enrollment.sequence, Enrollment.version).where(
                col(Enrollment.lead_id).in_(by_id), col(Enrollment.status).in_(OPEN_STATUSES)
            )
        ).all()
        for lead_id, other, version in running:
            if lead_id not in reasons and versions.get(session, version).exclusive:
                email = by_id[lead_id].email
                logger.info(
                    "%s is in exclusive %r; trigger for %r ignored", email, other, spec.name
                )
                reasons[lead_id] = f"{email} is already in exclusive sequence {other!r}"
    return reasons


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
    cancel_pending_touches(session, enrollment_id=enrollment.id, reason=f"exited: {reason}")  # type: ignore[arg-type]  # stored
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
    _publish_lead_event(session, lead, reason, at=at, exited=exited)
    return exited


def _publish_lead_event(
    session: Session, lead: Lead, event_type: str, *, at: datetime, exited: list[str]
) -> None:
    if event_type in LEAD_EVENTS:
        data = {"lead": lead.email, "owner": lead.owner, "reason": event_type, "exited": exited}
        publish(session, LEAD_EVENTS[event_type], occurred_at=at, data=data)


def _open_enrollments(session: Session, lead: Lead) -> list[Enrollment]:
    return list(
        session.exec(
            select(Enrollment).where(
                Enrollment.lead_id == lead.id, col(Enrollment.status).in_(OPEN_STATUSES)
            )
        ).all()
    )
