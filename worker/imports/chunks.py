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
from models.lead import LEAD_FACTS, PROFILE_COLUMNS, EnrollingLead, Lead, LeadFacts, LeadIn
from models.validation import FieldsTooLarge, merge_fields
from worker.engine.metrics import EVENTS_ACCEPTED, EVENTS_APPLIED, IMPORT_ROWS, count_on_commit
from worker.engine.runtime import Runtime
from worker.flow.enrollment import Refusal, enroll_many
from worker.flow.event_batches import apply_events, batchable_type, enroll_triggered, exit_types
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

    --sequence records `lead.imported` and enrolls; --event records that event and applies it.
    """
    facts = select(*(_LEADS.c[name] for name in LEAD_FACTS)).where(_LEADS.c.email.in_(emails))
    leads = [LeadFacts(*row) for row in session.execute(facts)]
    fresh = _unrecorded(session, leads, options, fingerprint)

    def record(chosen: Sequence[EnrollingLead], processed: bool) -> dict[str, int]:
        return _record_events(session, chosen, options, now, fingerprint, processed=processed)

    if options.sequence:
        spec = rt.catalog.sequences[options.sequence]
        ids = record(fresh, True)
        pairs = [(lead, ids[lead.email]) for lead in fresh]
        results = enroll_many(
            session, pairs, spec, versions=rt.versions, team=rt.catalog.team, at=now, now=now
        )
        count_on_commit(session, EVENTS_APPLIED, len(pairs))  # recorded as already processed
        return sum(not isinstance(result, Refusal) for result in results)
    event = options.event or ""
    batched, single = _batchable(rt, session, fresh, event)
    ids = record(batched, True)
    pairs = [(lead, ids[lead.email]) for lead in batched]
    outcomes = enroll_triggered(
        session, pairs, event, catalog=rt.catalog, versions=rt.versions, at=now, now=now
    )
    ids = record(single, False)
    if ids:
        rows = list(session.exec(orm_select(Event).where(col(Event.id).in_(list(ids.values())))))
        outcomes += apply_events(session, rows, catalog=rt.catalog, versions=rt.versions, now=now)
    return sum(len(outcome.enrolled) for outcome in outcomes)


def _batchable(
    rt: Runtime, session: Session, leads: list[LeadFacts], event: str
) -> tuple[list[LeadFacts], list[LeadFacts]]:
    """(leads the event only enrolls, in bulk; leads for apply_events): a built-in meaning, or
    an open enrollment the event ends, needs apply_event's whole work."""
    if not batchable_type(event):
        return [], leads
    exits = exit_types(session, [lead.id for lead in leads], rt.versions)
    ends = {lead_id for lead_id, types in exits.items() if event in types}
    return [ld for ld in leads if ld.id not in ends], [ld for ld in leads if ld.id in ends]


def _unrecorded(
    session: Session, leads: list[LeadFacts], options: ImportOptions, fingerprint: str
) -> list[LeadFacts]:
    """The leads this file has not recorded its event for (a re-import records none)."""
    target = options.event or f"sequence:{options.sequence}"
    keys = {lead.email: _event_key(fingerprint, lead.email, target) for lead in leads}
    known = set(session.exec(orm_select(Event.key).where(col(Event.key).in_(list(keys.values())))))
    return [lead for lead in leads if keys[lead.email] not in known]


def _record_events(
    session: Session,
    leads: Sequence[EnrollingLead],
    options: ImportOptions,
    now: datetime,
    fingerprint: str,
    *,
    processed: bool,
) -> dict[str, int]:
    """The import's event for each of `leads`: event id by email. `processed`: carried out in
    this same transaction (enrolled in bulk), else left for apply_events."""
    if not leads:
        return {}
    target = options.event or f"sequence:{options.sequence}"
    kind = options.event or IMPORTED_EVENT
    payload = _payload_template(kind, options.sequence)  # validated once for the chunk
    rows = []
    for lead in leads:
        key = _event_key(fingerprint, lead.email, target)
        lead_part = {**payload["lead"], "email": lead.email}
        row = {
            "key": key,
            "type": kind,
            "lead_email": lead.email,
            "occurred_at": now,
            "received_at": now,
            "processed_at": now if processed else None,
            "payload": {**payload, "id": key, "lead": lead_part},
        }
        rows.append(row)
    session.execute(insert(_EVENTS), rows)  # Core; RETURNING would go row by row on SQLite
    keyed = select(_EVENTS.c.lead_email, _EVENTS.c.id).where(
        _EVENTS.c.key.in_([row["key"] for row in rows])
    )
    count_on_commit(session, EVENTS_ACCEPTED, len(rows))
    return {email: event_id for email, event_id in session.execute(keyed)}


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
