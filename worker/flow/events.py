"""Events in: stored once per idempotency key, then carried out (exits, suppression, tasks,
logged touches, triggers) once."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from models.enrollment import Enrollment
from models.event import Event, EventIn
from models.lead import EnrollingLead, Lead
from worker.engine.db import dialect_insert
from worker.engine.metrics import EVENTS_ACCEPTED, EVENTS_APPLIED, count_on_commit
from worker.flow.enrollment import (
    Refusal,
    enroll,
    enroll_many,
    exit_enrollment,
    open_enrollments,
    open_enrollments_of,
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
    """Store an event once per idempotency key; returns (event, created).

    A keyed event is one INSERT ... ON CONFLICT (key) DO NOTHING RETURNING id: a key taken
    before, or by a concurrent insert (PostgreSQL waits for its commit), returns no id, and the
    stored event is read."""
    row = Event(
        key=event.id,
        type=event.type,
        lead_email=event.lead.email,
        payload=event.model_dump(mode="json"),
        occurred_at=event.occurred_at or now,
        received_at=now,
    )
    if event.id is None:  # no key, no possible clash
        session.add(row)
        session.flush()
    else:
        new_id = _insert_unless_keyed(session, row)
        if new_id is None:
            return session.exec(select(Event).where(Event.key == event.id)).one(), False
        row.id = new_id
        make_transient_to_detached(row)  # the row just written, without reading it back
        session.add(row)
    count_on_commit(session, EVENTS_ACCEPTED)
    return row, True


def _insert_unless_keyed(session: Session, row: Event) -> int | None:
    """The new row's id, or None when an event with its key is stored already."""
    values = {name: getattr(row, name) for name in _RECORDED}
    statement = (
        dialect_insert(session, _EVENTS)
        .values(values)
        .on_conflict_do_nothing(index_elements=[_EVENTS.c.key])
        .returning(_EVENTS.c.id)
    )
    return session.execute(statement).scalar_one_or_none()


_RECORDED = ("key", "type", "lead_email", "payload", "occurred_at", "received_at", "failures")


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
    exits = exit_types(session, [lead.id for lead in leads.values()], versions)
    once = {email for email, n in Counter(emails).items() if n == 1}
    outcomes: dict[int, EventOutcome] = {}
    batches: dict[tuple[str, datetime], list[tuple[Lead, Event]]] = defaultdict(list)
    for row in pending:
        lead = leads.get(row.lead_email)
        plain = batchable_type(row.type) and _names_only_the_email(row)
        exits_here = lead is not None and row.type in exits.get(lead.id, ())  # type: ignore[arg-type]  # stored: has an id
        if plain and lead is not None and not exits_here and row.lead_email in once:
            batches[(row.type, min(row.occurred_at, now))].append((lead, row))
        else:
            outcomes[id(row)] = apply_event(
                session, row, catalog=catalog, versions=versions, now=now
            )
    for (event_type, at), members in batches.items():
        _mark_processed(session, [row for _, row in members], now)
        pairs = [(lead, row.id or 0) for lead, row in members]
        batch = enroll_triggered(
            session, pairs, event_type, catalog=catalog, versions=versions, at=at, now=now
        )
        for (_, row), outcome in zip(members, batch, strict=True):
            outcomes[id(row)] = outcome
    return [outcomes[id(row)] for row in pending]


def batchable_type(event_type: str) -> bool:
    """Events of this type only trigger (no built-in meaning), so leads can enroll in batches."""
    return event_type not in BUILTIN_MEANINGS


def enroll_triggered(
    session: Session,
    members: Sequence[tuple[EnrollingLead, int]],
    event_type: str,
    *,
    catalog: Catalog,
    versions: VersionStore,
    at: datetime,
    now: datetime,
) -> list[EventOutcome]:
    """Plain trigger events (lead, event id), each processed in this transaction: every lead is
    enrolled in each sequence the type triggers. The caller marks the events processed."""
    outcomes = [EventOutcome(event_id=event_id) for _, event_id in members]
    count_on_commit(session, EVENTS_APPLIED, len(members))
    for spec in catalog.triggered_by(event_type):
        results = enroll_many(
            session, members, spec, versions=versions, team=catalog.team, at=at, now=now
        )
        for outcome, result in zip(outcomes, results, strict=True):
            outcome.note(spec, result)
    return outcomes


def _mark_processed(session: Session, rows: list[Event], now: datetime) -> None:
    """processed_at for many stored events: one UPDATE, the loaded objects kept in step."""
    session.execute(
        update(Event).where(col(Event.id).in_([row.id for row in rows])).values(processed_at=now),
        execution_options={"synchronize_session": False},
    )
    for row in rows:
        set_committed_value(row, "processed_at", now)


def exit_types(
    session: Session, lead_ids: list[int | None], versions: VersionStore
) -> dict[int, set[str]]:
    """Per lead, the event types that would end one of its open enrollments."""
    running = open_enrollments_of(session, lead_ids, Enrollment.version)
    exits: dict[int, set[str]] = defaultdict(set)
    for lead_id, version in running:
        exits[lead_id].update(versions.get(session, version).exit_on)
    return exits


def _names_only_the_email(row: Event) -> bool:
    """The event carries no lead fields to store, so the stored lead needs no upsert."""
    lead = row.payload.get("lead", {})
    return not any(value for key, value in lead.items() if key != "email")
