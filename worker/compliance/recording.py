"""Keeps each enrollment's SLA facts and verdict current, and writes sla.* log entries."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from models.compliance import ComplianceKind
from models.enrollment import Enrollment, EnrollmentState, SlaStatus
from models.lead import Lead
from models.touch import COMPLETED, Touch
from worker.compliance import log
from worker.compliance.risk import cleared_risk
from worker.compliance.verdicts import Exit, SlaTerms, Verdict, evaluate_sla
from worker.engine.metrics import SLA_VERDICTS, count_on_commit
from worker.engine.tunables import DUE_CHECK_BATCH
from worker.specs.sequences import SequenceSpec
from worker.specs.sla_clock import SlaClock, sla_clock_for
from worker.specs.team import TeamSpec
from worker.specs.versions import VersionStore


def sla_clock(
    spec: SequenceSpec, team: TeamSpec, owner: str | None, lead_timezone: str | None
) -> SlaClock:
    """The clock an enrollment's deadlines count on: its owner's working hours, else the window."""
    profile = team.owner(owner)
    return sla_clock_for(spec, profile.working_hours if profile else None, lead_timezone)


def enrollment_clock(
    session: Session, enrollment: Enrollment, lead: Lead, *, team: TeamSpec, versions: VersionStore
) -> SlaClock:
    """The clock a running enrollment's deadlines were fixed on (its pinned version)."""
    spec = versions.get(session, enrollment.version)
    return sla_clock(spec, team, enrollment.owner, lead.timezone)


def start_sla(
    enrollment: Enrollment, spec: SequenceSpec, lead_timezone: str | None, team: TeamSpec
) -> None:
    """Fix the deadlines, and when each is at risk, at enrollment time on the SLA's clock."""
    values = sla_start_values(spec, team, enrollment.owner, lead_timezone, enrollment.enrolled_at)
    for name, value in values.items():
        setattr(enrollment, name, value)


SLA_START_COLUMNS = (
    "sla_status",
    "sla_first_due_at",
    "sla_first_risk_at",
    "sla_window_due_at",
    "sla_window_risk_at",
    "sla_min_touches",
    "sla_next_check_at",
    "sla_alert_check_at",
)


def sla_start_values(
    spec: SequenceSpec,
    team: TeamSpec,
    owner: str | None,
    lead_timezone: str | None,
    start: datetime,
) -> dict[str, object]:
    """start_sla's columns for an enrollment starting at `start` (every SLA_START_COLUMNS name,
    so a batch of them inserts as one statement)."""
    values: dict[str, object] = dict.fromkeys(SLA_START_COLUMNS)
    if spec.sla is None:
        values["sla_status"] = SlaStatus.NONE
        return values
    clock = sla_clock(spec, team, owner, lead_timezone)
    sla, share = spec.sla, team.at_risk_after
    if sla.first_touch_within is not None:
        due, risk = clock.deadline_and_risk(start, sla.first_touch_within, share)
        values["sla_first_due_at"], values["sla_first_risk_at"] = due, risk
    if sla.within is not None:
        due, risk = clock.deadline_and_risk(start, sla.within, share)
        values["sla_window_due_at"], values["sla_window_risk_at"] = due, risk
        values["sla_min_touches"] = sla.min_touches
    values["sla_status"] = SlaStatus.PENDING
    deadlines = [values["sla_first_due_at"], values["sla_window_due_at"]]
    values["sla_next_check_at"] = min(d for d in deadlines if d is not None)  # type: ignore[type-var]
    risks = [values["sla_first_risk_at"], values["sla_window_risk_at"]]
    values["sla_alert_check_at"] = min(r for r in risks if r is not None)  # type: ignore[type-var]
    return values


def note_touch_completed(
    enrollment: EnrollmentState, at: datetime, *, manual: bool = False
) -> None:
    """Keep the per-enrollment counters the report aggregates (manual: a task or logged touch)."""
    enrollment.touches_completed += 1
    if manual:  # (each attribute set is an ORM change to flush: only those that change)
        enrollment.touches_manual += 1
    if enrollment.reassigned_to is not None:  # credited to the rep who works the lead now
        enrollment.touches_reassigned += 1
        if manual:
            enrollment.touches_manual_reassigned += 1
    if enrollment.first_touch_at is None or at < enrollment.first_touch_at:
        enrollment.first_touch_at = at
        enrollment.first_touch_seconds = max(0, int((at - enrollment.enrolled_at).total_seconds()))


def refresh_verdict(
    session: Session,
    enrollment: EnrollmentState,
    lead_email: str,
    now: datetime,
    exit: Exit | None = None,
) -> Verdict | None:
    """Re-evaluate a pending SLA; records and logs the verdict once it is decided."""
    if enrollment.sla_status != SlaStatus.PENDING:
        return None
    times = session.exec(
        select(Touch.completed_at).where(
            Touch.enrollment_id == enrollment.id, col(Touch.status).in_(COMPLETED)
        )
    ).all()
    terms = SlaTerms(
        enrollment.sla_first_due_at, enrollment.sla_window_due_at, enrollment.sla_min_touches
    )
    verdict = evaluate_sla(terms, [t for t in times if t is not None], exit, now)
    if verdict.status == SlaStatus.PENDING:
        enrollment.sla_next_check_at = verdict.next_check_at
        enrollment.sla_at_risk = cleared_risk(enrollment.sla_at_risk, len(times))
    else:
        _record_verdict(session, enrollment, lead_email, verdict, now)
    return verdict


LOGGED_VERDICTS = {
    SlaStatus.MET: ComplianceKind.SLA_MET,
    SlaStatus.BREACHED: ComplianceKind.SLA_BREACHED,
}


def _record_verdict(
    session: Session, enrollment: EnrollmentState, lead_email: str, verdict: Verdict, now: datetime
) -> None:
    """The decided verdict on the enrollment (its caller keeps it in the session, or writes its
    progress); met and breached are logged (an exclusion's exit already is)."""
    enrollment.sla_status = verdict.status
    count_on_commit(session, SLA_VERDICTS.labels(outcome=verdict.status.value))
    enrollment.sla_reason = verdict.reason
    enrollment.sla_decided_at = verdict.decided_at
    enrollment.sla_next_check_at = None
    enrollment.sla_at_risk = None
    # a breach is escalated by the tick's next step (worker/flow/escalation.py)
    enrollment.sla_alert_check_at = now if verdict.status == SlaStatus.BREACHED else None
    kind = LOGGED_VERDICTS.get(verdict.status)
    if kind is not None:
        log.append(
            session,
            kind,
            at=verdict.decided_at or now,
            lead_email=lead_email,
            enrollment=enrollment,
            detail=verdict.reason,
        )


def evaluate_due_deadlines(session: Session, now: datetime) -> int:
    """Record the verdicts whose deadline has passed; returns how many were decided."""
    rows = session.exec(
        select(Enrollment, Lead.email)
        .join(Lead, col(Lead.id) == Enrollment.lead_id)
        .where(Enrollment.sla_status == SlaStatus.PENDING, col(Enrollment.sla_next_check_at) <= now)
        .order_by(col(Enrollment.sla_next_check_at))
        .limit(DUE_CHECK_BATCH)
    ).all()
    decided = 0
    for enrollment, email in rows:
        verdict = refresh_verdict(session, enrollment, email, now)
        decided += verdict is not None and verdict.status != SlaStatus.PENDING
        session.add(enrollment)
    return decided
