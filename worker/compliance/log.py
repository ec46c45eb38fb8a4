"""The append-only compliance log: entries are inserted here and nowhere else, never changed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from models.compliance import ComplianceEntry, ComplianceKind
from models.enrollment import Enrollment, SlaStatus

SLA_TERMS = "sla: "  # opens the deadlines part of an enrollment.started entry's detail


def sla_terms(enrollment: Enrollment) -> str | None:
    """The deadlines an enrollment started with, in words; None when its sequence has no SLA."""
    if enrollment.sla_status == SlaStatus.NONE:
        return None
    parts = []
    if enrollment.sla_first_due_at is not None:
        parts.append(f"first touch by {_iso(enrollment.sla_first_due_at)}")
    if enrollment.sla_window_due_at is not None:
        window_due = _iso(enrollment.sla_window_due_at)
        parts.append(f"{enrollment.sla_min_touches} touches by {window_due}")
    return SLA_TERMS + ", ".join(parts)


def has_sla_terms(detail: str | None) -> bool:
    """Whether an enrollment.started detail says the enrollment runs under an SLA."""
    return detail is not None and SLA_TERMS in detail


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def append(
    session: Session,
    kind: ComplianceKind,
    *,
    at: datetime,
    lead_email: str,
    enrollment: Enrollment | None = None,
    owner: str | None = None,
    step: str | None = None,
    touch_id: int | None = None,
    detail: str | None = None,
) -> None:
    """Add one entry; enrollment fills owner and sequence, and a start records its SLA terms."""
    if kind == ComplianceKind.ENROLLMENT_STARTED and enrollment is not None:
        detail = "; ".join(part for part in (detail, sla_terms(enrollment)) if part)
    session.add(
        ComplianceEntry(
            at=at,
            kind=kind,
            lead_email=lead_email,
            owner=enrollment.owner if enrollment is not None else owner,
            sequence=enrollment.sequence if enrollment is not None else None,
            enrollment_id=enrollment.id if enrollment is not None else None,
            step=step,
            touch_id=touch_id,
            detail=(detail or None) and detail[:1000],
        )
    )


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
