"""The compliance report (SPEC section 11): SQL aggregates over enrollments, per owner/sequence/period."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from models.enrollment import Enrollment, SlaStatus
from worker.team import TeamSpec

GroupBy = Literal["owner", "sequence", "day", "week", "month"]
GROUPINGS: tuple[str, ...] = ("owner", "sequence", "day", "week", "month")
NO_OWNER = "(no owner)"


@dataclass
class ReportRow:
    key: str
    enrolled: int = 0
    met: int = 0
    breached: int = 0
    pending: int = 0
    excluded: int = 0
    touches: int = 0
    unworked: int = 0
    compliance_rate: float | None = None
    median_first_touch_seconds: int | None = None
    strikes: int | None = None


@dataclass
class Report:
    by: str
    since: datetime | None
    until: datetime | None
    rows: list[ReportRow] = field(default_factory=list)
    total: ReportRow = field(default_factory=lambda: ReportRow(key="total"))
    revenue_at_risk: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "rows": [asdict(r) for r in self.rows],
            "total": asdict(self.total),
            "revenue_at_risk": self.revenue_at_risk,
        }


def period_key(column: Any, by: str, dialect: str) -> ColumnElement[str]:
    """The UTC day, ISO-week Monday or month of a timestamp, as text, on SQLite and PostgreSQL."""
    if dialect == "sqlite":
        formats = {"day": ("%Y-%m-%d",), "month": ("%Y-%m",)}
        if by == "week":
            return func.date(column, "-6 days", "weekday 1")
        return func.strftime(formats[by][0], column)
    utc = func.timezone("UTC", column)
    if by == "week":
        return func.to_char(func.date_trunc("week", utc), "YYYY-MM-DD")
    return func.to_char(utc, "YYYY-MM-DD" if by == "day" else "YYYY-MM")


def group_key(by: str, dialect: str) -> ColumnElement[str]:
    if by == "owner":
        return func.coalesce(col(Enrollment.owner), NO_OWNER)
    if by == "sequence":
        return col(Enrollment.sequence)  # type: ignore[return-value]
    return period_key(col(Enrollment.enrolled_at), by, dialect)


def _count(status: SlaStatus) -> Any:
    return func.coalesce(func.sum(case((col(Enrollment.sla_status) == status, 1), else_=0)), 0)


def _window(since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    conditions = []
    if since is not None:
        conditions.append(col(Enrollment.enrolled_at) >= since)
    if until is not None:
        conditions.append(col(Enrollment.enrolled_at) < until)
    return conditions


def build_report(
    session: Session, *, by: str = "owner", since: datetime | None = None,
    until: datetime | None = None, team: TeamSpec | None = None,
) -> Report:
    if by not in GROUPINGS:
        raise ValueError(f"--by must be one of {', '.join(GROUPINGS)}")
    dialect = session.get_bind().dialect.name
    where = _window(since, until)
    key = group_key(by, dialect).label("key")
    measures = [
        func.count().label("enrolled"), _count(SlaStatus.MET).label("met"),
        _count(SlaStatus.BREACHED).label("breached"), _count(SlaStatus.PENDING).label("pending"),
        _count(SlaStatus.EXCLUDED).label("excluded"),
        func.coalesce(func.sum(col(Enrollment.touches_completed)), 0).label("touches"),
        func.coalesce(func.sum(case((and_(col(Enrollment.sla_status) == SlaStatus.BREACHED,
                                          col(Enrollment.touches_completed) == 0), 1), else_=0)), 0
                      ).label("unworked"),
    ]
    grouped = session.execute(select(key, *measures).where(*where).group_by(key).order_by(key)).all()
    totals = session.execute(select(literal("total").label("key"), *measures).where(*where)).one()
    medians = _medians(session, by, dialect, where)
    strikes = _strikes(session, team, dialect, where) if team and team.strikes else {}
    report = Report(by=by, since=since, until=until)
    for row in grouped:
        item = _row(row, medians.get(row.key))
        if by == "owner" and team and team.strikes:
            item.strikes = strikes.get(row.key, 0)
        report.rows.append(item)
    report.total = _row(totals, medians.get("\0total"))
    if team and team.strikes:
        report.total.strikes = sum(strikes.values())
    plan = team.sla_plan if team else None
    if plan is not None:
        report.revenue_at_risk = round(report.total.unworked * plan.close_rate * plan.average_deal_size, 2)
    return report


def _row(row: Any, median: int | None) -> ReportRow:
    decided = row.met + row.breached
    return ReportRow(
        key=str(row.key), enrolled=row.enrolled, met=row.met, breached=row.breached,
        pending=row.pending, excluded=row.excluded, touches=row.touches, unworked=row.unworked,
        compliance_rate=round(row.met / decided, 3) if decided else None,
        median_first_touch_seconds=median,
    )


def _medians(session: Session, by: str, dialect: str, where: list[Any]) -> dict[str, int | None]:
    """Median first-touch seconds per group and overall, with window functions in SQL."""
    seconds = col(Enrollment.first_touch_seconds)
    result: dict[str, int | None] = {}
    for partition in (group_key(by, dialect), literal("\0total")):
        ranked = (
            select(
                partition.label("key"), seconds.label("s"),
                func.row_number().over(partition_by=partition, order_by=seconds).label("n"),
                func.count().over(partition_by=partition).label("c"),
            )
            .where(seconds.is_not(None), *where)
            .subquery()
        )
        middle = (ranked.c.n == (ranked.c.c + 1) // 2) | (
            ranked.c.n == (ranked.c.c + 2) // 2
        )
        rows = session.execute(
            select(ranked.c.key, func.avg(ranked.c.s)).where(middle).group_by(ranked.c.key)
        ).all()
        result.update({str(k): int(round(float(v))) for k, v in rows if v is not None})
    return result


def _strikes(session: Session, team: TeamSpec, dialect: str, where: list[Any]) -> dict[str, int]:
    """Per owner: for each strike period, one strike per `breaches_per_strike` breaches."""
    assert team.strikes is not None
    period = period_key(col(Enrollment.sla_decided_at), team.strikes.period, dialect)
    owner = func.coalesce(col(Enrollment.owner), NO_OWNER)
    per_period = (
        select(owner.label("owner"), period.label("p"), func.count().label("n"))
        .where(col(Enrollment.sla_status) == SlaStatus.BREACHED, *where)
        .group_by(owner, period)
        .subquery()
    )
    per = team.strikes.breaches_per_strike
    rows = session.execute(
        select(per_period.c.owner, func.sum(per_period.c.n // per)).group_by(per_period.c.owner)
    ).all()
    return {str(o): int(n or 0) for o, n in rows}
