"""The leads at risk now: pending, with a deadline past its at-risk share and still unmet."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, func, select

from models.enrollment import Enrollment, current_owner_sql, worked_by
from models.lead import Lead
from worker.compliance.grouping import key_text
from worker.compliance.recording import enrollment_clock
from worker.compliance.report import at_risk_now
from worker.compliance.risk import FIRST_TOUCH, deadline_due
from worker.specs.team import TeamSpec
from worker.specs.versions import VersionStore


@dataclass(frozen=True)
class AtRiskLead:
    lead: str
    owner: str | None  # who works it now
    sequence: str
    deadline: str  # first_touch or touches
    due_at: datetime
    left: timedelta  # on the wall clock
    working_left: timedelta  # on the SLA's clock (equal on a calendar clock)
    clock: str
    touches: int
    min_touches: int | None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["due_at"] = self.due_at.isoformat()
        data["left_seconds"] = int(data.pop("left").total_seconds())
        data["working_left_seconds"] = int(data.pop("working_left").total_seconds())
        return data


def at_risk_leads(
    session: Session,
    *,
    team: TeamSpec,
    versions: VersionStore,
    now: datetime,
    owner: str | None = None,
    limit: int = 1000,
) -> list[AtRiskLead]:
    """Soonest deadline first, with the time left on the wall clock and on the SLA's clock."""
    query = (
        select(Enrollment, Lead)
        .join(Lead, col(Lead.id) == Enrollment.lead_id)
        .where(at_risk_now())
        .order_by(
            func.coalesce(col(Enrollment.sla_first_due_at), col(Enrollment.sla_window_due_at))
        )
        .limit(limit)
    )
    if owner:
        query = query.where(worked_by(owner.strip().lower()))
    rows = session.exec(query).all()
    found = [
        _at_risk_lead(session, e, lead, team=team, versions=versions, now=now) for e, lead in rows
    ]
    return sorted(found, key=lambda item: item.due_at)


def _at_risk_lead(
    session: Session,
    enrollment: Enrollment,
    lead: Lead,
    *,
    team: TeamSpec,
    versions: VersionStore,
    now: datetime,
) -> AtRiskLead:
    due = deadline_due(enrollment, enrollment.sla_at_risk or FIRST_TOUCH)
    clock = enrollment_clock(session, enrollment, lead, team=team, versions=versions)
    return AtRiskLead(
        lead=lead.email,
        owner=enrollment.current_owner,
        sequence=enrollment.sequence,
        deadline=enrollment.sla_at_risk or "",
        due_at=due,
        left=max(due - now, timedelta(0)),
        working_left=clock.elapsed(now, due),
        clock=clock.name,
        touches=enrollment.touches_completed,
        min_touches=enrollment.sla_min_touches,
    )


def at_risk_by_owner(session: Session) -> dict[str, int]:
    """How many leads each rep has at risk now (an index walk over the pending rows)."""
    owner = current_owner_sql()
    rows = session.exec(select(owner, func.count()).where(at_risk_now()).group_by(owner)).all()
    return {key_text(name): int(n) for name, n in rows}
