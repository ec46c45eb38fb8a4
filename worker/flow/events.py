"""Events in: stored once per idempotency key, then carried out (exits, suppression, tasks,
logged touches, triggers) once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, select

from models.event import Event, EventIn
from models.lead import Lead
from worker.engine.db import dialect_insert
from worker.engine.metrics import EVENTS_ACCEPTED, EVENTS_APPLIED, count_on_commit
from worker.flow.enrollment import (
    Refusal,
    enroll,
    exit_enrollment,
    open_enrollments,
    publish_lead_event,
    suppress_lead,
)
from worker.flow.enrollment_rows import StartedEnrollment
from worker.flow.holding import hold_enrollments
from worker.flow.leads import upsert_event_lead
from worker.flow.manual_tasks import complete_task, log_manual_touch
from worker.flow.touch_outcomes import note_response
from worker.specs.catalog import Catalog
from worker.specs.sequences import AUTO_REPLIED, SUPPRESSING_EVENTS, SequenceSpec
from worker.specs.versions import VersionStore

_EVENTS = Event.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table classes
BUILTIN_MEANINGS = frozenset({*SUPPRESSING_EVENTS, AUTO_REPLIED, "task.completed", "touch.logged"})


@dataclass
class EventOutcome:
    event_id: int
    duplicate: bool = False
    enrolled: list[str] = field(default_factory=list)
    exited: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # why a trigger enrolled nobody
    suppressed: bool = False
    completed_tasks: int = 0
    held: list[str] = field(default_factory=list)  # sequences an auto-reply holds

    def note(self, spec: SequenceSpec, result: StartedEnrollment | Refusal) -> None:
        """Record what a trigger did: enrolled in `spec`, or why not."""
        if isinstance(result, Refusal):
            self.ignored.append(f"{spec.name}: {result}")
        else:
            self.enrolled.append(spec.name)


def record_event(session: Session, event: EventIn, *, now: datetime) -> tuple[Event, bool]:
    """Store an event once per idempotency key; returns (event, created)."""
    values = _stored_values(event, now)
    new_id = _insert_unless_keyed(session, values)
    if new_id is None:
        return session.exec(select(Event).where(Event.key == event.id)).one(), False
    row = Event(id=new_id, **values)
    make_transient_to_detached(row)  # the row just written, without reading it back
    session.add(row)
    return row, True


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    created: bool
    processed: bool  # carried out already (a duplicate's may be)


def store_event(session: Session, event: EventIn, *, now: datetime) -> StoredEvent:
    """record_event without building the ORM row (POST /events needs its id alone)."""
    new_id = _insert_unless_keyed(session, _stored_values(event, now))
    if new_id is not None:
        return StoredEvent(new_id, created=True, processed=False)
    known = select(Event.id, Event.processed_at).where(Event.key == event.id)
    event_id, processed_at = session.exec(known).one()
    assert event_id is not None  # a stored row has its id
    return StoredEvent(event_id, created=False, processed=processed_at is not None)


def _stored_values(event: EventIn, now: datetime) -> dict[str, Any]:
    return {
        "key": event.id,
        "type": event.type,
        "lead_email": event.lead.email,
        "payload": event.model_dump(mode="json"),
        "occurred_at": event.occurred_at or now,
        "received_at": now,
        "failures": 0,
    }


def _insert_unless_keyed(session: Session, values: dict[str, Any]) -> int | None:
    """INSERT ... ON CONFLICT (key) DO NOTHING RETURNING id: the new row's id, or None when an
    event with its key is stored already (PostgreSQL waits for a concurrent insert's commit).
    Built once per backend; a NULL key never conflicts. Counted once committed."""
    name = session.get_bind().dialect.name
    statement = _KEYED_INSERTS.get(name)
    if statement is None:
        statement = _KEYED_INSERTS[name] = (
            dialect_insert(session, _EVENTS)
            .on_conflict_do_nothing(index_elements=[_EVENTS.c.key])
            .returning(_EVENTS.c.id)
        )
    new_id: int | None = session.connection().execute(statement, values).scalar_one_or_none()
    if new_id is not None:
        count_on_commit(session, EVENTS_ACCEPTED)
    return new_id


_KEYED_INSERTS: dict[str, Any] = {}  # backend name -> its INSERT ... ON CONFLICT statement


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
    lead, new_lead = upsert_event_lead(session, event, now=now)
    if not new_lead:
        note_response(session, lead, event.type, at=at)  # a reply, bounce or complaint
    _apply_builtin_meaning(
        session, event, lead, outcome, catalog=catalog, versions=versions, at=at, now=now
    )
    for enrollment in [] if new_lead else open_enrollments(session, lead):
        spec = versions.get(session, enrollment.version)
        if event.type in spec.exit_on:
            exit_enrollment(session, enrollment, lead, reason=event.type, at=at, now=now)
            outcome.exited.append(enrollment.sequence)
    if event.type == "email.replied":  # bounces and unsubscribes publish in suppress_lead
        publish_lead_event(session, lead, event.type, at=at, exited=outcome.exited)
    for spec in catalog.triggered_by(event.type):
        result = enroll(
            session,
            lead,
            spec,
            versions=versions,
            team=catalog.team,
            at=at,
            now=now,
            event_id=event_row.id,
            new_lead=new_lead,
        )
        outcome.note(spec, result)
    event_row.processed_at = now
    session.add(event_row)
    count_on_commit(session, EVENTS_APPLIED)
    return outcome


def _apply_builtin_meaning(
    session: Session,
    event: EventIn,
    lead: Lead,
    outcome: EventOutcome,
    *,
    catalog: Catalog,
    versions: VersionStore,
    at: datetime,
    now: datetime,
) -> None:
    """Unsubscribe, bounce and complaint suppress; an auto-reply holds the touches until its
    date (else team.yaml's auto_reply_pause); task.completed and touch.logged count a manual
    touch."""
    if event.type in SUPPRESSING_EVENTS:
        why = f"{event.type}: {event.detail}" if event.detail else event.type
        outcome.exited += suppress_lead(
            session, lead, reason=event.type, at=at, now=now, why=why[:500]
        )
        outcome.suppressed = True
    elif event.type == AUTO_REPLIED:
        until = event.until or at + timedelta(days=catalog.team.auto_reply_pause)
        enrollments = open_enrollments(session, lead)
        outcome.held = hold_enrollments(session, enrollments, lead, until=until, at=at)
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
        enrollments = open_enrollments(session, lead)
        log_manual_touch(session, lead, enrollments, detail=event.detail, at=at, now=now)
