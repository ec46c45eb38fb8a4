"""Strikes: per owner and strike period, one per `breaches_per_strike` breaches, with their leads."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlmodel import Session, col

from models.enrollment import Enrollment, SlaStatus
from models.lead import Lead
from worker.compliance.grouping import owner_key, period_key
from worker.team import StrikeRule

LEADS_SHOWN_PER_OWNER = 50  # enough to diagnose; `breaches` keeps the full count


@dataclass(frozen=True)
class StrikeLead:
    email: str
    sequence: str
    reason: str | None
    period: str
    enrolled_at: datetime
    decided_at: datetime | None


@dataclass
class OwnerStrikes:
    owner: str
    strikes: int = 0
    breaches: int = 0  # breaches in the periods that drew a strike
    periods: dict[str, int] = field(default_factory=dict)  # period -> strikes in it
    leads: list[StrikeLead] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for lead in data["leads"]:
            lead["enrolled_at"] = lead["enrolled_at"].isoformat()
            lead["decided_at"] = lead["decided_at"] and lead["decided_at"].isoformat()
        return data


def owner_strikes(
    session: Session, rule: StrikeRule, dialect: str, where: list[Any],
    *, leads_shown: int = LEADS_SHOWN_PER_OWNER,
) -> list[OwnerStrikes]:
    """Owners with at least one strike, most strikes first, each with the breaches behind them."""
    period = period_key(col(Enrollment.sla_decided_at), rule.period, dialect)
    owner = owner_key()
    breached = col(Enrollment.sla_status) == SlaStatus.BREACHED
    struck = (
        select(owner.label("owner"), period.label("p"), func.count().label("n"))
        .where(breached, *where)
        .group_by(owner, period)
        .having(func.count() >= rule.breaches_per_strike)
        .subquery()
    )
    result: dict[str, OwnerStrikes] = {}
    for name, p, n in session.execute(select(struck.c.owner, struck.c.p, struck.c.n)).all():
        entry = result.setdefault(str(name), OwnerStrikes(owner=str(name)))
        entry.periods[str(p)] = int(n) // rule.breaches_per_strike
        entry.strikes += entry.periods[str(p)]
        entry.breaches += int(n)
    if not result:
        return []
    for lead in _struck_leads(session, struck, owner, period, breached, where, leads_shown):
        result[lead[0]].leads.append(lead[1])
    return sorted(result.values(), key=lambda o: (-o.strikes, o.owner))


def _struck_leads(
    session: Session, struck: Any, owner: Any, period: Any, breached: Any, where: list[Any],
    leads_shown: int,
) -> list[tuple[str, StrikeLead]]:
    """The breached enrollments in struck periods, newest first, at most `leads_shown` per owner."""
    ranked = (
        select(
            owner.label("owner"), period.label("p"), col(Lead.email).label("email"),
            col(Enrollment.sequence).label("sequence"), col(Enrollment.sla_reason).label("reason"),
            col(Enrollment.enrolled_at).label("enrolled_at"),
            col(Enrollment.sla_decided_at).label("decided_at"),
            func.row_number().over(
                partition_by=owner,
                order_by=(col(Enrollment.sla_decided_at).desc(), col(Enrollment.id).desc()),
            ).label("rank"),
        )
        .join(Lead, col(Lead.id) == Enrollment.lead_id)
        .join(struck, and_(struck.c.owner == owner, struck.c.p == period))
        .where(breached, *where)
        .subquery()
    )
    rows = session.execute(
        select(ranked).where(ranked.c.rank <= leads_shown).order_by(ranked.c.owner, ranked.c.rank)
    ).all()
    return [
        (str(r.owner), StrikeLead(email=r.email, sequence=r.sequence, reason=r.reason,
                                  period=str(r.p), enrolled_at=r.enrolled_at,
                                  decided_at=r.decided_at))
        for r in rows
    ]
