"""Streaming CSV -> leads (and enrollments) in bulk chunks; bad rows are rejected by line number.

The one importer behind `followup leads import` and `POST /leads/import` (SPEC section 8);
reading and row validation live in csv_rows.py.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col
from sqlmodel import select as orm_select

from models.event import Event, EventIn, LeadIn
from models.lead import Lead
from models.validation import EVENT_TYPE_PATTERN
from worker.engine.runtime import Runtime
from worker.flow.enrollment import apply_events, enroll_many
from worker.imports.csv_rows import LEAD_COLUMNS, CsvImportError, CsvSource, lead_from_row
from worker.specs.catalog import Catalog

CHUNK_ROWS = 1000
ENROLL_CHUNK_ROWS = 200  # enrolling writes ~4 rows a lead: keep each write transaction short
UPDATABLE = LEAD_COLUMNS[1:]
IMPORTED_EVENT = "lead.imported"  # the record of a --sequence import; it triggers nothing
__all__ = [
    "CsvImportError",
    "CsvSource",
    "ImportOptions",
    "ImportSummary",
    "RejectedRow",
    "import_rows",
]
_LEADS = Lead.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table classes


@dataclass(frozen=True)
class ImportOptions:
    event: str | None = None
    sequence: str | None = None
    dry_run: bool = False
    chunk_rows: int | None = None  # default: CHUNK_ROWS, or ENROLL_CHUNK_ROWS when enrolling

    @property
    def rows_per_chunk(self) -> int:
        return self.chunk_rows or (ENROLL_CHUNK_ROWS if self.enrolls else CHUNK_ROWS)

    @property
    def enrolls(self) -> bool:
        return bool(self.event or self.sequence)


@dataclass(frozen=True)
class RejectedRow:
    line: int
    email: str
    reason: str
    values: tuple[str, ...]


@dataclass
class ImportSummary:
    """rows = created + updated + unchanged + merged + rejected."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    merged: int = 0  # rows whose email came earlier in the file: the last row wins
    rejected: int = 0
    enrolled: int = 0
    suppressed: int = 0  # leads in the file that are suppressed, so never enrolled
    dry_run: bool = False

    def add(self, other: ImportSummary) -> None:
        for name in ("created", "updated", "unchanged", "suppressed", "enrolled"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        enrolled = f"{'would enroll' if self.dry_run else 'enrolled'} {self.enrolled}"
        return (
            f"{'dry run, nothing written: ' if self.dry_run else ''}{self.rows} rows read; "
            f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.merged} duplicates merged, {self.rejected} rejected; {enrolled}; "
            f"{self.suppressed} suppressed (never enrolled)"
        )


def check_options(catalog: Catalog, options: ImportOptions) -> None:
    """Reject what would make every row fail, before reading any."""
    if options.event and options.sequence:
        raise CsvImportError("give an event or a sequence, not both", "sequence")
    if options.sequence is not None and options.sequence not in catalog.sequences:
        known = ", ".join(catalog.sequences) or "none"
        raise CsvImportError(f"no sequence named {options.sequence!r} (known: {known})", "sequence")
    if options.event is not None and not re.match(EVENT_TYPE_PATTERN, options.event):
        raise CsvImportError(f"{options.event!r} is not an event type (e.g. lead.mql)", "event")


@dataclass
class _Pending:
    line: int
    lead: LeadIn
    repeat: bool  # its email came in an earlier chunk: counted as merged, written again


def import_rows(
    rt: Runtime,
    source: CsvSource,
    options: ImportOptions,
    *,
    on_reject: Callable[[RejectedRow], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Validate rows as they stream, and write them a chunk (one transaction) at a time."""
    check_options(rt.catalog, options)
    summary = ImportSummary(dry_run=options.dry_run)
    now = rt.clock.now()
    seen: set[bytes] = set()  # 8-byte digests of the emails already taken: ~80 bytes a lead
    batch: dict[str, _Pending] = {}
    email_at = source.columns.index("email")
    for line, values, problem in source.records():
        summary.rows += 1
        lead = lead_from_row(source.columns, values) if values is not None else problem
        if isinstance(lead, str):
            summary.rejected += 1
            if on_reject is not None:
                email = values[email_at] if values and len(values) > email_at else ""
                on_reject(RejectedRow(line, email, lead, tuple(values or ())))
            continue
        _take(batch, seen, _Pending(line, lead, repeat=False), summary)
        if len(batch) >= options.rows_per_chunk:
            summary.add(_commit_chunk(rt, batch, options, now=now, fingerprint=source.fingerprint))
            batch.clear()
            if on_progress is not None:
                on_progress(source.position())
    if batch:
        summary.add(_commit_chunk(rt, batch, options, now=now, fingerprint=source.fingerprint))
    if on_progress is not None:
        on_progress(source.position())
    return summary


def _take(
    batch: dict[str, _Pending], seen: set[bytes], row: _Pending, summary: ImportSummary
) -> None:
    """Last row wins: later values override, fields not given keep the earlier ones."""
    email = row.lead.email
    digest = hashlib.blake2b(email.encode(), digest_size=8).digest()
    if digest not in seen:
        seen.add(digest)
        batch[email] = row
        return
    summary.merged += 1
    earlier = batch.get(email)
    if earlier is None:
        batch[email] = _Pending(row.line, row.lead, repeat=True)
        return
    changes: dict[str, Any] = {n: v for n in UPDATABLE if (v := getattr(row.lead, n)) is not None}
    changes["fields"] = {**earlier.lead.fields, **row.lead.fields}
    batch[email] = _Pending(row.line, earlier.lead.model_copy(update=changes), earlier.repeat)


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


def _commit_chunk(
    rt: Runtime,
    batch: dict[str, _Pending],
    options: ImportOptions,
    *,
    now: datetime,
    fingerprint: str,
) -> ImportSummary:
    """Write one chunk; retried once if a concurrent writer inserted one of its emails first."""
    for attempt in (1, 2):
        try:
            with _chunk_session(rt.engine, dry_run=options.dry_run) as session:
                counts = _upsert_leads(session, batch, now=now)
                if options.enrolls:
                    firsts = [email for email, pending in batch.items() if not pending.repeat]
                    counts.enrolled = _enroll_chunk(
                        rt, session, firsts, options, now=now, fingerprint=fingerprint
                    )
                return counts
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _upsert_leads(session: Session, batch: dict[str, _Pending], *, now: datetime) -> ImportSummary:
    """One SELECT for the chunk, then one bulk INSERT and one bulk UPDATE."""
    counts = ImportSummary()
    stored = {
        row.email: row
        for row in session.execute(select(_LEADS).where(_LEADS.c.email.in_(list(batch))))
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for email, pending in batch.items():
        lead, old = pending.lead, stored.get(email)
        if old is None:
            inserts.append(
                {
                    "email": email,
                    **{n: getattr(lead, n) for n in UPDATABLE},
                    "fields": lead.fields,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            counts.created += not pending.repeat
            continue
        values = {
            n: getattr(lead, n) if getattr(lead, n) is not None else getattr(old, n)
            for n in UPDATABLE
        }
        values["fields"] = {**(old.fields or {}), **lead.fields}
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
    target = options.event or f"sequence:{options.sequence}"
    keys = {lead.email: _event_key(fingerprint, lead.email, target) for lead in leads}
    known = set(session.exec(orm_select(Event.key).where(col(Event.key).in_(list(keys.values())))))
    fresh = [lead for lead in leads if keys[lead.email] not in known]
    kind = options.event or IMPORTED_EVENT
    rows = {
        lead.email: Event(
            key=keys[lead.email],
            type=kind,
            lead_email=lead.email,
            occurred_at=now,
            received_at=now,
            processed_at=None if options.event else now,
            payload=EventIn(
                type=kind,
                lead=LeadIn(email=lead.email),
                id=keys[lead.email],
                sequence=options.sequence,
            ).model_dump(mode="json"),
        )
        for lead in fresh
    }
    session.add_all(rows.values())
    session.flush()
    if options.sequence:
        spec = rt.catalog.sequences[options.sequence]
        pairs = [(lead, rows[lead.email].id) for lead in fresh]
        results = enroll_many(
            session, pairs, spec, versions=rt.versions, team=rt.catalog.team, at=now, now=now
        )
        return results.count(None)
    outcomes = apply_events(
        session, list(rows.values()), catalog=rt.catalog, versions=rt.versions, now=now
    )
    return sum(len(outcome.enrolled) for outcome in outcomes)


def _event_key(fingerprint: str, email: str, target: str) -> str:
    """The same file imported again records no new event (Event.key holds 200 characters)."""
    key = f"import:{fingerprint[:16]}:{email}:{target}"
    if len(key) <= 200:
        return key
    digest = hashlib.sha256(f"{email}:{target}".encode()).hexdigest()
    return f"import:{fingerprint[:16]}:{digest}"
