"""The tick's escalation step: at-risk moments and breaches become log entries, events and
alerts when they pass (not when someone looks), each once, and breaches schedule reassignment."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from models.compliance import ComplianceEntry, ComplianceKind
from models.enrollment import OPEN_STATUSES, Enrollment, SlaStatus
from models.lead import Lead
from models.touch import WAITING, Touch, TouchKind, TouchStatus
from worker.compliance import log
from worker.compliance.recording import enrollment_clock
from worker.compliance.risk import FIRST_TOUCH, RiskFacts, deadline_due, due_risks, most_urgent
from worker.engine.tunables import ESCALATION_BATCH
from worker.notify.alerts import local_words, raise_alerts, recipients, span_words
from worker.notify.outbox import iso
from worker.specs.sla_clock import SlaClock
from worker.specs.team import TeamSpec
from worker.specs.versions import VersionStore


@dataclass
class Escalated:
    at_risk: int = 0  # deadlines recorded at risk
    breaches: int = 0  # breaches escalated
    alerts: int = 0  # alert rows raised


def escalate_due(
    session: Session, *, team: TeamSpec, versions: VersionStore, now: datetime
) -> Escalated:
    """Look at every enrollment whose alert check is due (a compare-and-set per row)."""
    rows = due_enrollments(session, Enrollment.sla_alert_check_at, now, ESCALATION_BATCH)
    result = Escalated()
    for enrollment, lead in rows:
        enrollment.sla_alert_check_at = None
        if enrollment.sla_status == SlaStatus.PENDING:
            _record_risks(session, enrollment, lead, team, versions, now, result)
        elif enrollment.sla_status == SlaStatus.BREACHED:
            _escalate_breach(session, enrollment, lead, team, versions, now, result)
        session.add(enrollment)
    return result


def _record_risks(
    session: Session,
    enrollment: Enrollment,
    lead: Lead,
    team: TeamSpec,
    versions: VersionStore,
    now: datetime,
    result: Escalated,
) -> None:
    """The deadlines whose at-risk moment passed unmet: logged, published and alerted."""
    newly, following = due_risks(_risk_facts(session, enrollment), now)
    enrollment.sla_alert_check_at = following
    if not newly:
        return
    enrollment.sla_at_risk = most_urgent(enrollment.sla_at_risk, [d for _, d in newly])
    clock = enrollment_clock(session, enrollment, lead, team=team, versions=versions)
    people = recipients(team.alerts.at_risk if team.alerts else ("owner",), enrollment, team)
    for moment, deadline in newly:
        text = _log_risk(session, enrollment, lead.email, deadline, moment, clock, people, now)
        zone = _reader_zone(enrollment, team, clock)
        result.alerts += raise_alerts(
            session,
            enrollment=enrollment,
            lead_email=lead.email,
            level=f"at_risk.{deadline}",
            people=people,
            team=team,
            text=f"At risk: {lead.email} ({enrollment.sequence}): {text(zone)}",
            now=now,
        )
        result.at_risk += 1


def _log_risk(
    session: Session,
    enrollment: Enrollment,
    lead_email: str,
    deadline: str,
    moment: datetime,
    clock: SlaClock,
    people: list[str],
    now: datetime,
) -> Callable[[ZoneInfo], str]:
    """The sla.at_risk entry (and its webhook event); returns the alert's words in a zone."""
    due = deadline_due(enrollment, deadline)
    left = clock.elapsed(now, due)
    words = _deadline_words(enrollment, deadline)
    log.append(
        session,
        ComplianceKind.SLA_AT_RISK,
        at=moment,
        lead_email=lead_email,
        enrollment=enrollment,
        detail=f"{deadline}: {words} due {iso(due)}, {span_words(left)} left",
        data={
            "deadline": deadline,
            "due_at": iso(due),
            "left_seconds": int(left.total_seconds()),
            "clock": clock.name,
            "notify": people,
        },
    )
    return lambda zone: f"{words} due {local_words(due, zone)}, {_left_words(left, clock)}"


def due_enrollments(
    session: Session, column: Any, now: datetime, limit: int
) -> list[tuple[Enrollment, Lead]]:
    """Enrollments (with their leads) whose `column` moment has come, oldest first, each row
    locked for this transaction (another scheduler skips it)."""
    rows = session.exec(
        select(Enrollment, Lead)
        .join(Lead, col(Lead.id) == Enrollment.lead_id)
        .where(col(column) <= now)
        .order_by(col(column))
        .limit(limit)
        .with_for_update(skip_locked=True, of=Enrollment)
    ).all()
    return [(enrollment, lead) for enrollment, lead in rows]


def _escalate_breach(
    session: Session,
    enrollment: Enrollment,
    lead: Lead,
    team: TeamSpec,
    versions: VersionStore,
    now: datetime,
    result: Escalated,
) -> None:
    """The manager hears of it; with `reassign_after`, the lead moves on later (reassignment)."""
    result.breaches += 1
    alerts = team.alerts
    if alerts is None:
        return
    clock = enrollment_clock(session, enrollment, lead, team=team, versions=versions)
    decided, zone = enrollment.sla_decided_at or now, _reader_zone(enrollment, team, clock)
    text = (
        f"SLA breached: {lead.email} ({enrollment.sequence}): {enrollment.sla_reason} at "
        f"{local_words(decided, zone)}; owner {enrollment.current_owner or 'nobody'}"
    )
    if alerts.reassigns is not None and enrollment.status in OPEN_STATUSES:
        moves = clock.deadline(decided, alerts.reassigns)
        enrollment.sla_reassign_at = moves
        text += f"; moves to the next rep of the pool at {local_words(moves, zone)}"
    result.alerts += raise_alerts(
        session,
        enrollment=enrollment,
        lead_email=lead.email,
        level="breached",
        people=recipients(alerts.breached, enrollment, team),
        team=team,
        text=text,
        now=now,
    )


def _risk_facts(session: Session, enrollment: Enrollment) -> RiskFacts:
    """The enrollment's moments, what is already recorded, and its next email on its way."""
    recorded = session.exec(
        select(ComplianceEntry.detail).where(
            ComplianceEntry.enrollment_id == enrollment.id,
            ComplianceEntry.kind == ComplianceKind.SLA_AT_RISK,
        )
    ).all()
    on_its_way = session.exec(
        select(func.min(Touch.due_at)).where(
            Touch.enrollment_id == enrollment.id,
            Touch.kind == TouchKind.EMAIL,
            col(Touch.status).in_((*WAITING, TouchStatus.QUEUED, TouchStatus.SENDING)),
        )
    ).one()
    return RiskFacts(
        first_risk_at=enrollment.sla_first_risk_at,
        first_due_at=enrollment.sla_first_due_at,
        window_risk_at=enrollment.sla_window_risk_at,
        window_due_at=enrollment.sla_window_due_at,
        touches=enrollment.touches_completed,
        min_touches=enrollment.sla_min_touches,
        email_on_its_way=on_its_way,
        recorded=frozenset((detail or "").partition(":")[0] for detail in recorded),
    )


def _reader_zone(enrollment: Enrollment, team: TeamSpec, clock: SlaClock) -> ZoneInfo:
    """Times in an alert read in the rep's own zone when team.yaml gives one, else the clock's."""
    profile = team.owner(enrollment.current_owner)
    return ZoneInfo(profile.timezone) if profile and profile.timezone else clock.zone


def _deadline_words(enrollment: Enrollment, deadline: str) -> str:
    if deadline == FIRST_TOUCH:
        return "first touch"
    return f"{enrollment.sla_min_touches} touches ({enrollment.touches_completed} so far)"


def _left_words(left: timedelta, clock: SlaClock) -> str:
    words = span_words(left)
    return f"{words} of working time left" if clock.name == "business_hours" else f"{words} left"
