"""Strikes: per owner and period, one per `breaches_per_strike` breaches, with their leads."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, literal, or_, select, union_all
from sqlmodel import Session, col

from models.enrollment import Enrollment, SlaStatus
from models.lead import Lead
from worker.compliance.grouping import NO_OWNER, key_text, period_bounds, period_key
from worker.engine.tunables import STRUCK_OWNERS_PER_STATEMENT
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
    struck = list(result.values())
    for first in range(0, len(struck), STRUCK_OWNERS_PER_STATEMENT):
        chunk = struck[first : first + STRUCK_OWNERS_PER_STATEMENT]
        _add_leads(session, chunk, (period, rule.period), where, leads_shown)
    return sorted(result.values(), key=lambda o: (-o.strikes, o.owner))


def _add_leads(
    session: Session,
    entries: list[OwnerStrikes],
    period: tuple[Any, str],
    where: list[Any],
    limit: int,
) -> None:
    """The breaches behind each owner's strikes, newest first: each owner's index walk, stopped
    early, is one arm of a UNION ALL, so many owners cost one round trip, not one each. Each
    lead's address is a lookup by primary key (a subquery a row): joined to the arms instead,
    PostgreSQL hashed the whole lead table, or took longer to plan a join in every arm."""
    arms = [
        _struck_leads(period, where, limit, number, entry).subquery().select()
        for number, entry in enumerate(entries)
    ]
    together: Any = union_all(*arms) if len(arms) > 1 else arms[0]
    found = together.subquery()
    email = select(col(Lead.email)).where(col(Lead.id) == found.c.lead_id).scalar_subquery()
    rows = session.execute(
        select(found, email.label("email")).order_by(
            found.c.arm, found.c.decided_at.desc(), found.c.id.desc()
        )
    )
    for row in rows.all():
        entries[row.arm].leads.append(
            StrikeLead(
                email=row.email,
                sequence=row.sequence,
                reason=row.sla_reason,
                enrolled_at=row.enrolled_at,
                decided_at=row.decided_at,
                period=str(row.period),
            )
        )


def _struck_leads(
    period: tuple[Any, str], where: list[Any], limit: int, number: int, entry: OwnerStrikes
) -> Any:
    """One owner's breaches in its struck periods, newest first: an index walk, stopped early.

    The periods are read as ranges of the decision time, which both planners estimate from
    their statistics; a list of period keys, estimated at a few rows, made PostgreSQL read and
    sort every breach of the owner instead of walking back to the newest `limit`."""
    key, by = period
    decided = col(Enrollment.sla_decided_at)
    owner = col(Enrollment.owner)
    return (
        select(
            literal(number).label("arm"),
            col(Enrollment.lead_id),
            col(Enrollment.sequence),
            col(Enrollment.sla_reason),
            col(Enrollment.enrolled_at),
            decided.label("decided_at"),
            key.label("period"),
            col(Enrollment.id),
        )
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
    for name in sorted(entry.periods):
        start, end = period_bounds(by, name)
        if spans and spans[-1][1] == start:
            start = spans.pop()[0]
        spans.append((start, end))
    return spans
