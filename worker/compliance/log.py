"""The append-only compliance log: entries are inserted here and nowhere else, never changed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from models.compliance import ComplianceEntry, ComplianceKind
from models.enrollment import Enrollment


def append(
    session: Session, kind: ComplianceKind, *, at: datetime, lead: str,
    enrollment: Enrollment | None = None, owner: str | None = None, step: str | None = None,
    touch_id: int | None = None, detail: str | None = None,
) -> None:
    """Add one entry; enrollment fills owner and sequence when given."""
    session.add(ComplianceEntry(
        at=at, kind=kind, lead=lead,
        owner=enrollment.owner if enrollment is not None else owner,
        sequence=enrollment.sequence if enrollment is not None else None,
        enrollment_id=enrollment.id if enrollment is not None else None,
        step=step, touch_id=touch_id, detail=(detail or None) and detail[:1000],
    ))


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
        statement = statement.where(ComplianceEntry.lead == where.email.strip().lower())
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
