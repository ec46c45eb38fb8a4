"""Marketing's side of the SLA: leads delivered in a period against the leads the plan needs."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import distinct, func, select
from sqlmodel import Session, col

from models.enrollment import Enrollment
from worker.compliance.grouping import enrolled_window
from worker.compliance.plan import marketing_target
from worker.specs.team import SlaPlan

ON_PACE, BEHIND = "on pace", "behind"


@dataclass(frozen=True)
class MarketingCompliance:
    since: datetime | None  # the period measured: the report's, or first enrollment's day -> now
    until: datetime | None
    days: float | None
    leads_delivered: int
    leads_needed: float | None  # the plan's leads per day x days
    delivered_ratio: float | None
    status: str | None  # "on pace" or "behind"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["since"] = self.since.isoformat() if self.since else None
        data["until"] = self.until.isoformat() if self.until else None
        return data


def marketing_compliance(
    session: Session,
    plan: SlaPlan | None,
    *,
    since: datetime | None,
    until: datetime | None,
    now: datetime | None,
) -> MarketingCompliance:
    """Distinct leads enrolled in [since, until) against the plan, up to `now` when it is sooner."""
    where = enrolled_window(since, until)
    enrolled_at = col(Enrollment.enrolled_at)
    first = session.execute(
        select(enrolled_at).where(*where).order_by(enrolled_at).limit(1)
    ).scalar()
    last = session.execute(
        select(enrolled_at).where(*where).order_by(enrolled_at.desc()).limit(1)
    ).scalar()
    delivered = session.execute(
        select(func.count(distinct(col(Enrollment.lead_id)))).where(*where)
    ).scalar_one()
    start = since or (datetime.combine(first.date(), time.min, tzinfo=UTC) if first else None)
    ends = [moment for moment in (until, now) if moment is not None]
    end = min(ends) if ends else last
    days = (end - start).total_seconds() / 86400 if start and end and end > start else None
    if plan is None or days is None:
        return MarketingCompliance(start, end, days and round(days, 3), delivered, None, None, None)
    needed = round(marketing_target(plan).leads_per_day * days, 1)
    ratio = round(delivered / needed, 3) if needed else None
    status = ON_PACE if delivered >= needed else BEHIND
    return MarketingCompliance(start, end, round(days, 3), delivered, needed, ratio, status)
