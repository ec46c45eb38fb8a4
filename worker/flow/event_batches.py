"""Many stored events at once (imports, the API's applier), with apply_event's meaning: plain
triggers of leads that appear once are enrolled in bulk statements, new leads inserted in one;
everything else goes through apply_event."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from models.enrollment import Enrollment
from models.event import Event, EventIn
from models.lead import EnrollingLead, Lead
from worker.engine.metrics import EVENTS_APPLIED, count_on_commit
from worker.flow.enrollment import LEAD_EVENTS, enroll_many, open_enrollments_of
from worker.flow.events import EventOutcome, apply_event
from worker.flow.leads import insert_event_leads
from worker.flow.touch_outcomes import RESPONSES
from worker.specs.catalog import Catalog
from worker.specs.sequences import AUTO_REPLIED, SUPPRESSING_EVENTS
from worker.specs.versions import VersionStore

# Types that mean more than their triggers: suppression, a hold, a manual touch, a response
# noted on the last email, a lead.* webhook.
BUILTIN_MEANINGS = frozenset(
    {*SUPPRESSING_EVENTS, AUTO_REPLIED, *RESPONSES, *LEAD_EVENTS, "task.completed", "touch.logged"}
)
Batch = tuple[str, bool]  # (event type, for leads this batch creates)


def apply_events(
    session: Session, rows: list[Event], *, catalog: Catalog, versions: VersionStore, now: datetime
) -> list[EventOutcome]:
    """Each unprocessed row carried out as apply_event would, one outcome a row."""
    pending = [row for row in rows if row.processed_at is None]
    emails = [row.lead_email for row in pending]
    leads = {
        lead.email: lead for lead in session.exec(select(Lead).where(col(Lead.email).in_(emails)))
    }
    exits = exit_types(session, [lead.id for lead in leads.values()], versions)
    once = {email for email, n in Counter(emails).items() if n == 1}
    outcomes: dict[int, EventOutcome] = {}
    batches: dict[Batch, list[tuple[Lead | None, Event]]] = defaultdict(list)
    for row in pending:
        lead = leads.get(row.lead_email)
        exits_here = lead is not None and row.type in exits.get(lead.id, ())  # type: ignore[arg-type]  # stored: has an id
        plain = batchable_type(row.type) and row.lead_email in once and not exits_here
        if plain and (lead is None or _names_only_the_email(row)):
            batches[(row.type, lead is None)].append((lead, row))
        else:
            outcomes[id(row)] = apply_event(
                session, row, catalog=catalog, versions=versions, now=now
            )
    for (event_type, new_leads), members in batches.items():
        _mark_processed(session, [row for _, row in members], now)
        pairs = _enrolling(session, members, new_leads, now=now)
        at = [min(row.occurred_at, now) for _, row in members]
        batch = enroll_triggered(
            session,
            pairs,
            event_type,
            catalog=catalog,
            versions=versions,
            at=at,
            now=now,
            new_leads=new_leads,
        )
        for (_, row), outcome in zip(members, batch, strict=True):
            outcomes[id(row)] = outcome
    return [outcomes[id(row)] for row in pending]


def unapplied(session: Session, ids: list[int]) -> list[Event]:
    """The events among `ids` still to apply (neither processed nor dead), oldest first."""
    return list(
        session.exec(
            select(Event)
            .where(
                col(Event.id).in_(ids),
                col(Event.processed_at).is_(None),
                col(Event.dead_at).is_(None),
            )
            .order_by(col(Event.id))
        )
    )


def _enrolling(
    session: Session,
    members: list[tuple[Lead | None, Event]],
    new_leads: bool,
    *,
    now: datetime,
) -> list[tuple[EnrollingLead, int]]:
    """(lead, event id) of a batch; new leads are inserted first, from their events' payloads."""
    if not new_leads:
        return [(lead, row.id or 0) for lead, row in members if lead is not None]
    events = [EventIn.model_validate(row.payload) for _, row in members]
    created = insert_event_leads(session, [event.lead for event in events], now=now)
    return [(created[row.lead_email], row.id or 0) for _, row in members]


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
    at: datetime | Sequence[datetime],
    now: datetime,
    new_leads: bool = False,
) -> list[EventOutcome]:
    """Plain trigger events (lead, event id), each processed in this transaction: every lead is
    enrolled in each sequence the type triggers (`at`: when, for all or each event). The caller
    marks the events processed.
    `new_leads`: every lead was created in this transaction (no enrollment to look up)."""
    outcomes = [EventOutcome(event_id=event_id) for _, event_id in members]
    count_on_commit(session, EVENTS_APPLIED, len(members))
    for spec in catalog.triggered_by(event_type):
        results = enroll_many(
            session,
            members,
            spec,
            versions=versions,
            team=catalog.team,
            at=at,
            now=now,
            new_leads=new_leads,
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
