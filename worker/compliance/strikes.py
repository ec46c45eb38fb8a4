"""Strikes: per owner and period, one per `breaches_per_strike` breaches, with their leads."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlmodel import Session, col

from models.enrollment import Enrollment, SlaStatus
from models.lead import Lead
from worker.compliance.grouping import NO_OWNER, key_text, period_key
from worker.compliance.percentiles import period_bounds
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
    owner = col(Enrollment.owner)
    rows = session.execute(
        select(owner, period, func.count())
        .where(col(Enrollment.sla_status) == SlaStatus.BREACHED, *where)
        .group_by(owner, period)
        .having(func.count() >= rule.breaches_per_strike)
    ).all()
    result: dict[str, OwnerStrikes] = {}
    for name, p, n in rows:
        entry = result.setdefault(key_text(name), OwnerStrikes(owner=key_text(name)))
        entry.periods[str(p)] = int(n) // rule.breaches_per_strike
        entry.strikes += entry.periods[str(p)]
        entry.breaches += int(n)
    for entry in result.values():
        entry.periods = dict(sorted(entry.periods.items()))
        entry.leads = _struck_leads(session, entry, rule, where, leads_shown)
    return sorted(result.values(), key=lambda o: (-o.strikes, o.owner))


def _struck_leads(
    session: Session, entry: OwnerStrikes, rule: StrikeRule, where: list[Any], limit: int
) -> list[StrikeLead]:
    """An owner's breaches in its struck periods, newest first (an index walk, stopped early)."""
    decided = col(Enrollment.sla_decided_at)
    owner = col(Enrollment.owner)
    in_periods = or_(*(and_(decided >= start, decided < end) for start, end in (
        period_bounds(rule.period, p) for p in entry.periods)))
    rows = session.execute(
        select(Lead.email, Enrollment.sequence, Enrollment.sla_reason, Enrollment.enrolled_at,
               Enrollment.sla_decided_at)
        .join(Lead, col(Lead.id) == Enrollment.lead_id)
        .where(col(Enrollment.sla_status) == SlaStatus.BREACHED, in_periods, *where,
               owner.is_(None) if entry.owner == NO_OWNER else owner == entry.owner)
        .order_by(decided.desc(), col(Enrollment.id).desc())
        .limit(limit)
    ).all()
    return [StrikeLead(email=email, sequence=sequence, reason=reason, enrolled_at=enrolled_at,
                       decided_at=decided_at, period=_period_of(decided_at, rule, entry))
            for email, sequence, reason, enrolled_at, decided_at in rows]


def _period_of(moment: datetime, rule: StrikeRule, entry: OwnerStrikes) -> str:
    return next(p for p in entry.periods if _within(moment, period_bounds(rule.period, p)))


def _within(moment: datetime, bounds: tuple[datetime, datetime]) -> bool:
    return bounds[0] <= moment < bounds[1]
