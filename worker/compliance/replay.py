"""The report recomputed from the append-only log alone: proof that the log holds every fact.

The log is replayed into a scratch in-memory database shaped like the real one, and the same
report is built on it; `compare_reports` says where the two disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, col, create_engine, select

from models.compliance import ComplianceEntry, ComplianceKind
from models.enrollment import Enrollment, EnrollmentStatus, SlaStatus
from models.lead import Lead
from models.touch import Touch, TouchKind, TouchStatus
from worker.compliance.log import has_sla_terms
from worker.compliance.report import Report, build_report
from worker.compliance.risk import cleared_risk, most_urgent
from worker.engine.schema import prepare_schema
from worker.engine.tunables import LOG_READ_BATCH

TOUCH_ENTRIES = {
    ComplianceKind.TOUCH_SENT: (TouchKind.EMAIL, TouchStatus.SENT),
    ComplianceKind.TASK_COMPLETED: (TouchKind.TASK, TouchStatus.DONE),
    ComplianceKind.TOUCH_LOGGED: (TouchKind.LOGGED, TouchStatus.DONE),
}
VERDICT_ENTRIES = {
    ComplianceKind.SLA_MET: SlaStatus.MET,
    ComplianceKind.SLA_BREACHED: SlaStatus.BREACHED,
}


@dataclass
class EnrollmentFacts:
    """What the log says about one enrollment."""

    lead_email: str
    owner: str | None
    sequence: str
    enrolled_at: datetime
    has_sla: bool
    touches: list[tuple[datetime, ComplianceKind, str | None]] = field(default_factory=list)
    verdict: tuple[SlaStatus, str | None, datetime] | None = None
    exited: bool = False
    at_risk: str | None = None  # as recorded by sla.at_risk entries, cleared like the tables do
    reassigned_to: str | None = None
    touches_reassigned: int = 0
    touches_manual_reassigned: int = 0

    def sla_status(self) -> SlaStatus:
        """Met and breached are logged; an exit before any verdict is an exclusion."""
        if not self.has_sla:
            return SlaStatus.NONE
        if self.verdict is not None:
            return self.verdict[0]
        return SlaStatus.EXCLUDED if self.exited else SlaStatus.PENDING


def collect_facts(entries: Iterable[ComplianceEntry]) -> dict[int, EnrollmentFacts]:
    """Fold the log, oldest first, into facts per enrollment id."""
    facts: dict[int, EnrollmentFacts] = {}
    for entry in entries:
        if entry.enrollment_id is None:
            continue  # a logged touch of a lead in no sequence counts toward no SLA
        if entry.kind == ComplianceKind.ENROLLMENT_STARTED:
            facts[entry.enrollment_id] = EnrollmentFacts(
                lead_email=entry.lead_email,
                owner=entry.owner,
                sequence=entry.sequence or "",
                enrolled_at=entry.at,
                has_sla=has_sla_terms(entry.detail),
            )
            continue
        known = facts.get(entry.enrollment_id)
        if known is None:
            continue
        if entry.kind in TOUCH_ENTRIES:
            _fold_touch(known, entry)
        elif entry.kind == ComplianceKind.SLA_AT_RISK and known.verdict is None:
            known.at_risk = most_urgent(known.at_risk, [(entry.detail or "").partition(":")[0]])
        elif entry.kind == ComplianceKind.LEAD_REASSIGNED:
            known.reassigned_to = entry.owner
        elif entry.kind in VERDICT_ENTRIES and known.verdict is None:
            known.verdict = (VERDICT_ENTRIES[ComplianceKind(entry.kind)], entry.detail, entry.at)
        elif entry.kind == ComplianceKind.ENROLLMENT_EXITED:
            known.exited = True
    return facts


def _fold_touch(known: EnrollmentFacts, entry: ComplianceEntry) -> None:
    """A completed touch: counted, credited to a new owner after a move, clearing a first-touch
    risk."""
    kind = ComplianceKind(entry.kind)
    known.touches.append((entry.at, kind, entry.step))
    if known.reassigned_to is not None:
        known.touches_reassigned += 1
        known.touches_manual_reassigned += kind != ComplianceKind.TOUCH_SENT
    known.at_risk = cleared_risk(known.at_risk, len(known.touches))


def _enrollment_row(enrollment_id: int, lead_id: int, facts: EnrollmentFacts) -> dict[str, Any]:
    first = min((t[0] for t in facts.touches), default=None)
    _, reason, decided_at = facts.verdict or (None, None, None)
    return {
        "id": enrollment_id,
        "lead_id": lead_id,
        "sequence": facts.sequence,
        "version": "",
        "owner": facts.owner,
        "enrolled_at": facts.enrolled_at,
        # not in the log, unread by the report; "completed" keeps the open-enrollment index quiet
        "status": EnrollmentStatus.EXITED if facts.exited else EnrollmentStatus.COMPLETED,
        "touches_completed": len(facts.touches),
        "first_touch_at": first,
        "touches_manual": sum(kind != ComplianceKind.TOUCH_SENT for _, kind, _ in facts.touches),
        "first_touch_seconds": None
        if first is None
        else max(0, int((first - facts.enrolled_at).total_seconds())),
        "sla_status": facts.sla_status(),
        "sla_reason": reason,
        "sla_decided_at": decided_at,
        "sla_at_risk": facts.at_risk if facts.verdict is None else None,
        "reassigned_to": facts.reassigned_to,
        "touches_reassigned": facts.touches_reassigned,
        "touches_manual_reassigned": facts.touches_manual_reassigned,
    }


def _lead_row(lead_id: int, email: str, seen: datetime) -> dict[str, Any]:
    return {"id": lead_id, "email": email, "fields": {}, "created_at": seen, "updated_at": seen}


def scratch_database(facts: dict[int, EnrollmentFacts]) -> Engine:
    """An in-memory database holding the leads, enrollments and touches the facts describe."""
    engine = create_engine("sqlite://", poolclass=StaticPool)
    prepare_schema(engine)
    lead_ids = {
        email: n for n, email in enumerate(sorted({f.lead_email for f in facts.values()}), 1)
    }
    with Session(engine) as session, session.begin():
        if lead_ids:
            first_seen = min(f.enrolled_at for f in facts.values())
            leads = [_lead_row(n, email, first_seen) for email, n in lead_ids.items()]
            session.execute(insert(Lead), leads)
        rows = [_enrollment_row(i, lead_ids[f.lead_email], f) for i, f in facts.items()]
        if rows:
            session.execute(insert(Enrollment), rows)
        touches = [
            {
                "enrollment_id": i,
                "lead_id": lead_ids[f.lead_email],
                "sequence": f.sequence,
                "step": step or "",
                "kind": TOUCH_ENTRIES[kind][0],
                "status": TOUCH_ENTRIES[kind][1],
                "due_at": at,
                "completed_at": at,
            }
            for i, f in facts.items()
            for at, kind, step in f.touches
        ]
        if touches:
            session.execute(insert(Touch), touches)
    return engine


def read_log(session: Session) -> Iterable[ComplianceEntry]:
    """Every entry, oldest first, in batches so memory holds the facts, not the log."""
    last = 0
    while True:
        batch = session.exec(
            select(ComplianceEntry)
            .where(col(ComplianceEntry.id) > last)
            .order_by(col(ComplianceEntry.id))
            .limit(LOG_READ_BATCH)
        ).all()
        if not batch:
            return
        yield from batch
        last = batch[-1].id or last
        for entry in batch:
            session.expunge(entry)


def report_from_log(entries: Iterable[ComplianceEntry], **report_args: Any) -> Report:
    """`build_report` on a database rebuilt from nothing but the log."""
    return reports_from_log(entries, groupings=(report_args.pop("by", "owner"),), **report_args)[0]


def reports_from_log(
    entries: Iterable[ComplianceEntry], *, groupings: Iterable[str], **report_args: Any
) -> list[Report]:
    """One replay of the log, then a report per grouping."""
    engine = scratch_database(collect_facts(entries))
    try:
        with Session(engine) as scratch:
            return [build_report(scratch, by=by, **report_args) for by in groupings]
    finally:
        engine.dispose()


def audit_log(session: Session, *, groupings: Iterable[str], **report_args: Any) -> list[str]:
    """Differences between the reports from the tables and from the log, for every grouping."""
    groupings = tuple(groupings)
    replayed = reports_from_log(read_log(session), groupings=groupings, **report_args)
    differences: list[str] = []
    for by, from_log in zip(groupings, replayed, strict=True):
        tables = build_report(session, by=by, **report_args)
        differences += [f"by {by}: {d}" for d in compare_reports(tables, from_log)]
    return differences


def compare_reports(tables: Report, replayed: Report) -> list[str]:
    """Every field where the two reports differ, as `path: tables != log`; empty when equal."""
    differences: list[str] = []
    # Reply facts are counted from inbound_message, its own append-only record, and variants
    # from the touches' recorded variant and reply: neither comes from the log.
    ours, theirs = (
        {k: v for k, v in r.as_dict().items() if k not in ("replies", "variants")}
        for r in (tables, replayed)
    )
    _compare(ours, theirs, "report", differences)
    return differences


def _compare(a: Any, b: Any, path: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            _compare(a.get(key), b.get(key), f"{path}.{key}", out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            _compare(x, y, f"{path}[{index}]", out)
    elif a != b:
        out.append(f"{path}: tables {a!r} != log {b!r}")
