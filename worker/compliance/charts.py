"""The SQL behind the dashboard charts: weekly trend, first-touch distribution, latest breaches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlmodel import Session, col

from models.enrollment import Enrollment, SlaStatus
from models.lead import Lead
from worker.compliance.grouping import NO_OWNER, period_key

# (label, upper bound in seconds); the last bucket is open-ended
FIRST_TOUCH_BUCKETS: tuple[tuple[str, int | None], ...] = (
    ("< 5 min", 5 * 60),
    ("5-15 min", 15 * 60),
    ("15-60 min", 60 * 60),
    ("1-4 h", 4 * 3600),
    ("4-24 h", 24 * 3600),
    ("> 1 day", None),
)
NOT_TOUCHED = "not touched"
BREACHES_SHOWN = 50


@dataclass(frozen=True)
class TrendPoint:
    week: str  # the Monday of the ISO week, UTC
    enrolled: int
    met: int
    breached: int

    @property
    def rate(self) -> float | None:
        decided = self.met + self.breached
        return self.met / decided if decided else None


@dataclass(frozen=True)
class Breach:
    email: str
    name: str
    company: str | None
    owner: str
    sequence: str
    reason: str | None
    enrolled_at: datetime
    decided_at: datetime | None
    touches: int


def _count_if(condition: Any) -> Any:
    return func.count().filter(condition)


def weekly_trend(session: Session, dialect: str, where: list[Any]) -> list[TrendPoint]:
    """Met and breached per enrollment week, oldest first."""
    week = period_key(col(Enrollment.enrolled_at), "week", dialect).label("week")
    status = col(Enrollment.sla_status)
    rows = session.execute(
        select(
            week,
            func.count(),
            _count_if(status == SlaStatus.MET),
            _count_if(status == SlaStatus.BREACHED),
        )
        .where(*where)
        .group_by(week)
        .order_by(week)
    ).all()
    return [TrendPoint(str(w), int(n), int(m), int(b)) for w, n, m, b in rows]


def first_touch_distribution(session: Session, where: list[Any]) -> list[tuple[str, int]]:
    """How many enrollments got their first touch within each bucket, and how many got none."""
    seconds = col(Enrollment.first_touch_seconds)
    whens: list[tuple[Any, str]] = [(seconds.is_(None), NOT_TOUCHED)]
    whens += [(seconds < bound, label) for label, bound in FIRST_TOUCH_BUCKETS if bound]
    bucket = case(*whens, else_=FIRST_TOUCH_BUCKETS[-1][0]).label("bucket")
    counts = dict(
        session.execute(select(bucket, func.count()).where(*where).group_by(bucket)).all()
    )
    labels = [label for label, _ in FIRST_TOUCH_BUCKETS] + [NOT_TOUCHED]
    return [(label, int(counts.get(label, 0))) for label in labels]


def recent_breaches(
    session: Session, where: list[Any], *, limit: int = BREACHES_SHOWN
) -> list[Breach]:
    """The latest breaches with their leads, so a manager can open the right conversation."""
    lead = (Lead.email, Lead.first_name, Lead.last_name, Lead.company)
    enrollment = (Enrollment.owner, Enrollment.sequence, Enrollment.sla_reason)
    times = (Enrollment.enrolled_at, Enrollment.sla_decided_at, Enrollment.touches_completed)
    rows = session.execute(
        select(*(col(c) for c in (*lead, *enrollment, *times)))
        .join(Lead, col(Lead.id) == Enrollment.lead_id)
        .where(col(Enrollment.sla_status) == SlaStatus.BREACHED, *where)
        .order_by(col(Enrollment.sla_decided_at).desc(), col(Enrollment.id).desc())
        .limit(limit)
    ).all()
    return [
        Breach(
            email=r[0],
            name=" ".join(p for p in (r[1], r[2]) if p),
            company=r[3],
            owner=r[4] or NO_OWNER,
            sequence=r[5],
            reason=r[6],
            enrolled_at=r[7],
            decided_at=r[8],
            touches=r[9],
        )
        for r in rows
    ]
