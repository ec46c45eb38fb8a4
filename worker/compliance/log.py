"""The append-only compliance log: entries are inserted here and nowhere else, never changed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import insert
from sqlmodel import Session, col, select

from models.compliance import ComplianceEntry, ComplianceKind
from models.enrollment import SlaStatus
from worker.notify.outbox import iso, publish, subscribers

_ENTRIES = ComplianceEntry.__table__  # type: ignore[attr-defined]  # SQLModel sets it
_INSERT = insert(_ENTRIES)  # built once: every record of a delivery runs it
_COLUMN = {"lead_email": "lead"}  # attribute -> column where they differ
_DEFERRED = "followup.log_deferred"  # session.info: the entries held back (deferred)
SLA_TERMS = "sla: "  # opens the deadlines part of an enrollment.started entry's detail
# Entries that are also outbound webhook events (SPEC section 14), with the same type name.
WEBHOOK_KINDS = frozenset(
    {
        ComplianceKind.ENROLLMENT_STARTED,
        ComplianceKind.TOUCH_SENT,
        ComplianceKind.TOUCH_FAILED,
        ComplianceKind.SLA_AT_RISK,
        ComplianceKind.SLA_BREACHED,
        ComplianceKind.SLA_MET,
        ComplianceKind.LEAD_REASSIGNED,
    }
)
# The SLA's own entries belong to the rep the verdict is for; the rest to who works the lead.
_VERDICT_KINDS = frozenset(
    {ComplianceKind.SLA_AT_RISK, ComplianceKind.SLA_BREACHED, ComplianceKind.SLA_MET}
)


class EnrollmentFacts(Protocol):
    """What an entry reads of its enrollment: a stored Enrollment, or one just inserted in bulk."""

    @property
    def id(self) -> int | None: ...
    @property
    def sequence(self) -> str: ...
    @property
    def owner(self) -> str | None: ...
    @property
    def current_owner(self) -> str | None: ...
    @property
    def sla_status(self) -> str: ...
    @property
    def sla_first_due_at(self) -> datetime | None: ...
    @property
    def sla_window_due_at(self) -> datetime | None: ...
    @property
    def sla_min_touches(self) -> int | None: ...


def sla_terms(enrollment: EnrollmentFacts, clock: str | None = None) -> str | None:
    """The deadlines an enrollment started with, in words; None when its sequence has no SLA."""
    if enrollment.sla_status == SlaStatus.NONE:
        return None
    parts = []
    if enrollment.sla_first_due_at is not None:
        parts.append(f"first touch by {iso(enrollment.sla_first_due_at)}")
    if enrollment.sla_window_due_at is not None:
        window_due = iso(enrollment.sla_window_due_at)
        parts.append(f"{enrollment.sla_min_touches} touches by {window_due}")
    return SLA_TERMS + ", ".join(parts) + (f" ({clock} clock)" if clock else "")


def has_sla_terms(detail: str | None) -> bool:
    """Whether an enrollment.started detail says the enrollment runs under an SLA."""
    return detail is not None and SLA_TERMS in detail


def append(
    session: Session,
    kind: ComplianceKind,
    *,
    at: datetime,
    lead_email: str,
    enrollment: EnrollmentFacts | None = None,
    owner: str | None = None,
    step: str | None = None,
    touch_id: int | None = None,
    detail: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Add one entry; enrollment fills owner and sequence, and a start records its SLA terms.

    Kinds that are webhook events also go to the outbox, in this same transaction, with the
    entry's facts and `data` as the event's data."""
    values = entry_values(
        kind,
        at=at,
        lead_email=lead_email,
        enrollment=enrollment,
        owner=owner,
        step=step,
        touch_id=touch_id,
        detail=detail,
        data=data,
    )
    held = session.info.get(_DEFERRED)
    if held is not None:  # in order with the batch's other entries (deferred)
        held.append((values, data or {}))
        return
    entry = ComplianceEntry(**values)
    session.add(entry)
    if kind in WEBHOOK_KINDS:
        _publish_entry(session, entry, data or {})


def append_all(session: Session, entries: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    """Many entries (entry_values, webhook data) in one INSERT; the same outbox rows as append."""
    if not entries:
        return
    held = session.info.get(_DEFERRED)
    if held is not None:
        held.extend(entries)
        return
    rows = [{_COLUMN.get(k, k): v for k, v in values.items()} for values, _ in entries]
    session.execute(_INSERT, rows)  # Core: no ORM bookkeeping per row
    for values, data in entries:
        if values["kind"] in WEBHOOK_KINDS and subscribers(session, str(values["kind"])):
            _publish_entry(session, ComplianceEntry(**values), data)


@contextmanager
def deferred(session: Session) -> Iterator[None]:
    """append's and append_all's entries held back and inserted together, in order, when the
    block ends (a batch's touches: one INSERT, issue 15); nothing is inserted when it raises."""
    held: list[tuple[dict[str, Any], dict[str, Any]]] = []
    session.info[_DEFERRED] = held
    try:
        yield
    finally:
        session.info.pop(_DEFERRED, None)
    append_all(session, held)


def entry_values(
    kind: ComplianceKind,
    *,
    at: datetime,
    lead_email: str,
    enrollment: EnrollmentFacts | None = None,
    owner: str | None = None,
    step: str | None = None,
    touch_id: int | None = None,
    detail: str | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One entry's columns: enrollment fills owner and sequence, a start adds its SLA terms."""
    if kind == ComplianceKind.ENROLLMENT_STARTED and enrollment is not None:
        clock = ((data or {}).get("sla") or {}).get("clock")
        detail = "; ".join(part for part in (detail, sla_terms(enrollment, clock)) if part)
    if enrollment is not None:
        owner = enrollment.owner if kind in _VERDICT_KINDS else enrollment.current_owner
    return {
        "at": at,
        "kind": kind,
        "lead_email": lead_email,
        "owner": owner,
        "sequence": enrollment.sequence if enrollment is not None else None,
        "enrollment_id": enrollment.id if enrollment is not None else None,
        "step": step,
        "touch_id": touch_id,
        "detail": (detail or None) and detail[:1000],
    }


def _publish_entry(session: Session, entry: ComplianceEntry, data: dict[str, Any]) -> None:
    """The entry as a webhook event: its facts, and what the caller added."""
    facts = {
        "lead": entry.lead_email,
        "owner": entry.owner,
        "sequence": entry.sequence,
        "enrollment_id": entry.enrollment_id,
        "step": entry.step,
        "touch_id": entry.touch_id,
        "detail": entry.detail,
    }
    publish(session, str(entry.kind), occurred_at=entry.at, data={**facts, **data})


@dataclass(frozen=True)
class LogFilter:
    email: str | None = None
    owner: str | None = None
    sequence: str | None = None
    kind: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int | None = None


def query_log(session: Session, where: LogFilter) -> list[ComplianceEntry]:
    """Entries oldest first, filtered on indexed columns."""
    statement = select(ComplianceEntry)
    if where.email:
        statement = statement.where(ComplianceEntry.lead_email == where.email.strip().lower())
    if where.owner:
        statement = statement.where(ComplianceEntry.owner == where.owner.strip().lower())
    if where.sequence:
        statement = statement.where(ComplianceEntry.sequence == where.sequence)
    if where.kind:
        statement = statement.where(ComplianceEntry.kind == where.kind)
    if where.since:
        statement = statement.where(col(ComplianceEntry.at) >= where.since)
    if where.until:
        statement = statement.where(col(ComplianceEntry.at) < where.until)
    statement = statement.order_by(col(ComplianceEntry.at), col(ComplianceEntry.id))
    if where.limit:
        statement = statement.limit(where.limit)
    return list(session.exec(statement))
