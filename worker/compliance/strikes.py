"""Strikes: per owner and period, one per `breaches_per_strike` breaches, with their leads."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlmodel import Session, col

from models.enrollment import Enrollment, SlaStatus
from models.lead import Lead
from worker.compliance.grouping import NO_OWNER, key_text, period_bounds, period_key
from worker.specs.team import StrikeRule

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
    session: Session,
    rule: StrikeRule,
    dialect: str,
    where: list[Any],
    *,
    leads_shown: int = LEADS_SHOWN_PER_OWNER,
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
        statement = _struck_leads((period, rule.period), where, leads_shown, entry)
        entry.leads = _leads_of(session, statement)
    return sorted(result.values(), key=lambda o: (-o.strikes, o.owner))


def _leads_of(session: Session, statement: Any) -> list[StrikeLead]:
    """The breaches behind one owner's strikes, newest first."""
    rows = session.execute(statement)
    return [
        StrikeLead(
            email=email,
            sequence=sequence,
            reason=reason,
            enrolled_at=enrolled_at,
            decided_at=decided_at,
            period=str(p),
        )
        for email, sequence, reason, enrolled_at, decided_at, p in rows.all()
    ]


def _struck_leads(
    period: tuple[Any, str], where: list[Any], limit: int, entry: OwnerStrikes
) -> Any:
    """An owner's breaches in its struck periods, newest first: an index walk, stopped early.

    The periods are read as ranges of the decision time (consecutive ones merged), which the
    planner estimates from its statistics: their keys in a list, estimated at a few rows, made
    PostgreSQL read, join and sort every breach of the owner (8 ms an owner, not 0.5).
    """
    key, by = period
    decided = col(Enrollment.sla_decided_at)
    owner = col(Enrollment.owner)
    return (
        select(
            col(Lead.email),
            col(Enrollment.sequence),
            col(Enrollment.sla_reason),
            col(Enrollment.enrolled_at),
            decided,
            key,
        )
        .join(Lead, col(Lead.id) == Enrollment.lead_id)
        .where(
            col(Enrollment.sla_status) == SlaStatus.BREACHED,
            *where,
            owner.is_(None) if entry.owner == NO_OWNER else owner == entry.owner,
            or_(*(and_(decided >= start, decided < end) for start, end in _spans(by, entry))),
        )
        .order_by(decided.desc(), col(Enrollment.id).desc())
        .limit(limit)
    )


def _spans(by: str, entry: OwnerStrikes) -> list[tuple[datetime, datetime]]:
    """The owner's struck periods as [start, end) in UTC, consecutive ones merged."""
    spans: list[tuple[datetime, datetime]] = []
    for name in entry.periods:  # in order: sorted above
        start, end = period_bounds(by, name)
        if spans and spans[-1][1] == start:
            start = spans.pop()[0]
        spans.append((start, end))
    return spans
