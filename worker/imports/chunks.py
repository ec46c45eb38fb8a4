"""One chunk of valid rows written in one transaction: leads upserted in bulk statements, then
enrolled through one recorded event per lead and file."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col
from sqlmodel import select as orm_select

from models.event import Event, EventIn
from models.lead import PROFILE_COLUMNS, Lead, LeadIn
from models.validation import FieldsTooLarge, merge_fields
from worker.engine.metrics import EVENTS_ACCEPTED, EVENTS_APPLIED, IMPORT_ROWS, count_on_commit
from worker.engine.runtime import Runtime
from worker.flow.enrollment import Refusal, enroll_many
from worker.flow.events import apply_events
from worker.imports.options import ImportOptions, ImportSummary, PendingLead

IMPORTED_EVENT = "lead.imported"  # the record of a --sequence import; it triggers nothing
Refused = list[tuple[PendingLead, str]]  # rows refused once merged with their stored lead
_LEADS = Lead.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table classes
_EVENTS = Event.__table__  # type: ignore[attr-defined]


@contextmanager
def _chunk_session(engine: Engine, *, dry_run: bool) -> Iterator[Session]:
    """One transaction per chunk; a dry run does all the same work and rolls it back."""
    with Session(engine, expire_on_commit=False) as session:
        transaction = session.begin()
        try:
            yield session
        except BaseException:
            transaction.rollback()
            raise
        if dry_run:
            transaction.rollback()
        else:
            transaction.commit()


def commit_chunk(
    rt: Runtime,
    batch: dict[str, PendingLead],
    options: ImportOptions,
    *,
    now: datetime,
    fingerprint: str,
) -> tuple[ImportSummary, Refused]:
    """Write one chunk; retried once if a concurrent writer inserted one of its emails first.

    Also returns the rows whose fields would pass the caps once merged with their stored lead
    (taken out of `batch`, so never written or enrolled).
    """
    refused: Refused = []
    for attempt in (1, 2):
        try:
            with _chunk_session(rt.engine, dry_run=options.dry_run) as session:
                counts = _upsert_leads(session, batch, refused, now=now)
                for result in ("created", "updated", "unchanged"):
                    count_on_commit(
                        session, IMPORT_ROWS.labels(result=result), getattr(counts, result)
                    )
                if options.enrolls:
                    firsts = [email for email, pending in batch.items() if not pending.repeat]
                    counts.enrolled = _enroll_chunk(
                        rt, session, firsts, options, now=now, fingerprint=fingerprint
                    )
                return counts, refused
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _upsert_leads(
    session: Session, batch: dict[str, PendingLead], refused: Refused, *, now: datetime
) -> ImportSummary:
    """One SELECT for the chunk, then one bulk INSERT and one bulk UPDATE."""
    counts = ImportSummary()
    stored = {
        row.email: row
        for row in session.execute(select(_LEADS).where(_LEADS.c.email.in_(list(batch))))
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for email, pending in list(batch.items()):
        lead, old = pending.lead, stored.get(email)
        if old is None:
            inserts.append({**_columns(lead), "email": email, "created_at": now, "updated_at": now})
            counts.created += not pending.repeat
            continue
        try:
            values = _merged(lead, old)
        except FieldsTooLarge as exc:
            refused.append((batch.pop(email), str(exc)))
            continue
        changed = any(values[n] != getattr(old, n) for n in values)
        if changed:
            updates.append({"lead_id": old.id, **values, "updated_at": now})
        if not pending.repeat:
            counts.updated += changed
            counts.unchanged += not changed
            counts.suppressed += old.suppressed_at is not None
    if inserts:
        session.execute(insert(_LEADS), inserts)
    if updates:
        session.execute(update(_LEADS).where(_LEADS.c.id == bindparam("lead_id")), updates)
    return counts


def _columns(lead: LeadIn) -> dict[str, Any]:
    return {**{n: getattr(lead, n) for n in PROFILE_COLUMNS}, "fields": lead.fields}


def _merged(lead: LeadIn, old: Any) -> dict[str, Any]:
    """The stored row updated by the file's values; columns the file leaves out are kept.

    FieldsTooLarge when the merged custom fields would pass their caps."""
    values = {
        n: getattr(lead, n) if getattr(lead, n) is not None else getattr(old, n)
        for n in PROFILE_COLUMNS
    }
    values["fields"] = merge_fields(dict(old.fields or {}), lead.fields)
    return values


def _enroll_chunk(
    rt: Runtime,
    session: Session,
    emails: list[str],
    options: ImportOptions,
    *,
    now: datetime,
    fingerprint: str,
) -> int:
    """One event per lead and file makes a re-import enroll nobody twice (even `after_exit`).

    --event records that event and applies it; --sequence records `lead.imported` and enrolls.
    """
    leads = session.exec(orm_select(Lead).where(col(Lead.email).in_(emails))).all()
    events = _record_events(session, leads, options, now=now, fingerprint=fingerprint)
    if options.sequence:
        spec = rt.catalog.sequences[options.sequence]
        pairs = [(lead, events[lead.email].id) for lead in leads if lead.email in events]
        results = enroll_many(
            session, pairs, spec, versions=rt.versions, team=rt.catalog.team, at=now, now=now
        )
        count_on_commit(session, EVENTS_APPLIED, len(pairs))  # recorded as already processed
        return sum(not isinstance(result, Refusal) for result in results)
    outcomes = apply_events(
        session, list(events.values()), catalog=rt.catalog, versions=rt.versions, now=now
    )
    return sum(len(outcome.enrolled) for outcome in outcomes)


def _record_events(
    session: Session,
    leads: Sequence[Lead],
    options: ImportOptions,
    *,
    now: datetime,
    fingerprint: str,
) -> dict[str, Event]:
    """The import's event for each lead that this file has not imported before, by email."""
    target = options.event or f"sequence:{options.sequence}"
    keys = {lead.email: _event_key(fingerprint, lead.email, target) for lead in leads}
    known = set(session.exec(orm_select(Event.key).where(col(Event.key).in_(list(keys.values())))))
    kind = options.event or IMPORTED_EVENT
    fresh = [lead for lead in leads if keys[lead.email] not in known]
    if not fresh:
        return {}
    payload = _payload_template(kind, options.sequence)  # validated once for the chunk
    rows = [
        {
            "key": keys[lead.email],
            "type": kind,
            "lead_email": lead.email,
            "occurred_at": now,
            "received_at": now,
            "processed_at": None if options.event else now,
            "payload": {
                **payload,
                "id": keys[lead.email],
                "lead": {**payload["lead"], "email": lead.email},
            },
        }
        for lead in fresh
    ]
    session.execute(insert(_EVENTS), rows)  # Core; RETURNING would go row by row on SQLite
    keyed = orm_select(Event).where(col(Event.key).in_([r["key"] for r in rows]))
    events = list(session.exec(keyed))
    count_on_commit(session, EVENTS_ACCEPTED, len(events))
    return {event.lead_email: event for event in events}


def _payload_template(kind: str, sequence: str | None) -> dict[str, Any]:
    """An import event's payload as EventIn dumps it; each lead's copy swaps email and id."""
    probe = EventIn(
        type=kind, lead=LeadIn(email="probe@example.com"), id="probe", sequence=sequence
    )
    return probe.model_dump(mode="json")


def _event_key(fingerprint: str, email: str, target: str) -> str:
    """The same file imported again records no new event (Event.key holds 200 characters)."""
    key = f"import:{fingerprint[:16]}:{email}:{target}"
    if len(key) <= 200:
        return key
    digest = hashlib.sha256(f"{email}:{target}".encode()).hexdigest()
    return f"import:{fingerprint[:16]}:{digest}"
