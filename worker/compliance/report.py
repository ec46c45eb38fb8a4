"""The compliance report (SPEC section 11): SQL aggregates per owner, sequence or period."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, literal, or_, select, union_all
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from models.enrollment import Enrollment, SlaStatus
from worker.compliance.grouping import (
    GROUPINGS,
    NO_OWNER,
    PERIODS,
    GroupBy,
    enrolled_window,
    group_conditions,
    group_key,
    key_text,
    period_bounds,
    period_key,
    periods_between,
)
from worker.compliance.marketing import MarketingCompliance, marketing_compliance
from worker.compliance.percentiles import (
    Percentiles,
    aggregated_percentiles,
    from_aggregates,
    percentiles_of,
)
from worker.compliance.replies import ReplyFacts, reply_facts
from worker.compliance.risk import FIRST_TOUCH, TOUCHES
from worker.compliance.strikes import OwnerStrikes, owner_strikes
from worker.compliance.variants import VariantRow, variant_report
from worker.engine.tunables import REPORT_PERIODS_PER_STATEMENT
from worker.specs.team import TeamSpec

__all__ = ["GROUPINGS", "NO_OWNER", "GroupBy", "Report", "ReportRow", "build_report", "period_key"]


@dataclass
class ReportRow:
    key: str
    enrolled: int = 0
    met: int = 0
    breached: int = 0
    breached_first_touch_late: int = 0
    breached_too_few_touches: int = 0
    pending: int = 0
    excluded: int = 0
    touches: int = 0
    touches_automated: int = 0
    touches_manual: int = 0
    unworked: int = 0
    at_risk: int = 0  # pending, with a deadline past its at-risk share (alerts.at_risk_after)
    reassigned: int = 0  # leads moved off this owner (in other groupings: moved at all)
    reassigned_in: int = 0  # leads this owner received (their touches since count here)
    compliance_rate: float | None = None
    median_first_touch_seconds: int | None = None
    p90_first_touch_seconds: int | None = None
    strikes: int | None = None
    revenue_at_risk: float | None = None


@dataclass
class Report:
    by: str
    since: datetime | None
    until: datetime | None
    rows: list[ReportRow] = field(default_factory=list)
    total: ReportRow = field(default_factory=lambda: ReportRow(key="total"))
    revenue_at_risk: float | None = None
    marketing: MarketingCompliance | None = None
    strike_list: list[OwnerStrikes] = field(default_factory=list)
    replies: ReplyFacts | None = None  # what came back: worker/compliance/replies.py
    variants: list[VariantRow] = field(default_factory=list)  # A/B: compliance/variants.py

    def as_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "rows": [asdict(r) for r in self.rows],
            "total": asdict(self.total),
            "revenue_at_risk": self.revenue_at_risk,
            "marketing": self.marketing.as_dict() if self.marketing else None,
            "strike_list": [o.as_dict() for o in self.strike_list],
            "replies": self.replies.as_dict() if self.replies else None,
            "variants": [row.as_dict() for row in self.variants],
        }


def _status_count(status: SlaStatus, *also: ColumnElement[bool]) -> Any:
    """COUNT(*) FILTER (WHERE ...): SQL standard, on SQLite >= 3.30 and PostgreSQL, and cheap."""
    return func.count().filter(and_(col(Enrollment.sla_status) == status, *also))


def _counts() -> dict[str, Any]:
    """Each count column of a report row and its SQL aggregate; the total is their sum."""
    breached = SlaStatus.BREACHED
    reason = col(Enrollment.sla_reason)
    return {
        "enrolled": func.count(),
        "met": _status_count(SlaStatus.MET),
        "breached": _status_count(breached),
        "breached_first_touch_late": _status_count(breached, reason == "first_touch_late"),
        "breached_too_few_touches": _status_count(breached, reason == "too_few_touches"),
        "pending": _status_count(SlaStatus.PENDING),
        "excluded": _status_count(SlaStatus.EXCLUDED),
        "touches": func.coalesce(func.sum(col(Enrollment.touches_completed)), 0),
        "touches_manual": func.coalesce(func.sum(col(Enrollment.touches_manual)), 0),
        "unworked": _status_count(breached, col(Enrollment.touches_completed) == 0),
    }


COUNT_FIELDS = tuple(_counts())  # the report's count columns, in table order
MOVE_FIELDS = ("at_risk", "reassigned", "reassigned_in")  # counted on their own (below)


def _measures(dialect: str) -> list[Any]:
    """The counts, and how many enrollments have a first touch (the percentiles' ranks); on
    PostgreSQL the percentiles themselves."""
    counted = [aggregate.label(name) for name, aggregate in _counts().items()]
    touched = func.count(col(Enrollment.first_touch_seconds)).label("touched")
    return [*counted, touched, *(aggregated_percentiles() if dialect == "postgresql" else [])]


def build_report(
    session: Session,
    *,
    by: str = "owner",
    since: datetime | None = None,
    until: datetime | None = None,
    team: TeamSpec | None = None,
    now: datetime | None = None,
) -> Report:
    """Every figure is an aggregate in SQL; `now` bounds marketing's pace when `until` is later."""
    if by not in GROUPINGS:
        raise ValueError(f"--by must be one of {', '.join(GROUPINGS)}")
    dialect = session.get_bind().dialect.name
    where = enrolled_window(since, until)
    key = group_key(by, dialect).label("key")
    grouped = _grouped_rows(session, by, key, where, dialect)
    report = Report(by=by, since=since, until=until)
    for r in grouped:
        ranked = _group_percentiles(session, r, by, where, dialect)
        report.rows.append(_row(r, key_text(r.key), ranked))
    _add_risks_and_moves(session, report, key, where)
    report.rows.sort(key=lambda r: r.key)
    overall = percentiles_of(session, where, sum(int(r.touched) for r in grouped))
    report.total = _total(report.rows, overall)
    if team is not None and team.strikes is not None:
        _add_strikes(report, owner_strikes(session, team.strikes, dialect, where))
    plan = team.sla_plan if team else None
    if plan is not None:
        for row in [*report.rows, report.total]:
            row.revenue_at_risk = round(row.unworked * plan.close_rate * plan.average_deal_size, 2)
        report.revenue_at_risk = report.total.revenue_at_risk
    report.marketing = marketing_compliance(session, plan, since=since, until=until, now=now)
    report.replies = reply_facts(session, since=since, until=until)
    report.variants = variant_report(session, where)
    return report


def _grouped_rows(
    session: Session, by: str, key: Any, where: list[ColumnElement[bool]], dialect: str
) -> list[Any]:
    """Each group's counts (on PostgreSQL its percentiles too), one row a group with enrollments.

    A period grouping reads each period's range of the enrolment-time index as one arm of a
    UNION ALL: no row's key is computed with date functions and nothing is sorted to group."""
    if by not in PERIODS:
        return list(session.execute(select(key, *_measures(dialect)).where(*where).group_by(key)))
    enrolled = col(Enrollment.enrolled_at)
    measures = _measures(dialect)  # built once: the arms share the same expressions
    arms = []
    for name in _periods(session, by, where):
        start, end = period_bounds(by, name)
        arms.append(
            select(literal(name).label("key"), *measures).where(
                *where, enrolled >= start, enrolled < end
            )
        )
    rows: list[Any] = []
    for first in range(0, len(arms), REPORT_PERIODS_PER_STATEMENT):
        chunk = arms[first : first + REPORT_PERIODS_PER_STATEMENT]
        statement = union_all(*chunk) if len(chunk) > 1 else chunk[0]
        rows += [row for row in session.execute(statement) if row.enrolled]
    return rows


def _periods(session: Session, by: str, where: list[ColumnElement[bool]]) -> list[str]:
    """The keys of the periods from the first enrollment in the window to the last."""
    enrolled = col(Enrollment.enrolled_at)
    ordered = select(enrolled).where(*where).limit(1)
    first, last = session.execute(
        select(
            ordered.order_by(enrolled).scalar_subquery(),
            ordered.order_by(enrolled.desc()).scalar_subquery(),
        )
    ).one()
    return [] if first is None else periods_between(by, first, last)


def _group_percentiles(
    session: Session, row: Any, by: str, where: list[ColumnElement[bool]], dialect: str
) -> Percentiles:
    """PostgreSQL's came with the grouped row; SQLite reads each group's at its rank."""
    if dialect == "postgresql":
        return from_aggregates(row.median, row.p90)
    conditions = [*where, *group_conditions(by, key_text(row.key))]
    return percentiles_of(session, conditions, int(row.touched), sorted_once=by in PERIODS)


def _row(row: Any, key: str, percentiles: Percentiles) -> ReportRow:
    """One group's figures."""
    item = ReportRow(key=key, **{name: int(getattr(row, name)) for name in COUNT_FIELDS})
    return _derive(item, percentiles)


def _total(rows: list[ReportRow], overall: Percentiles) -> ReportRow:
    """Counts add up across groups; percentiles do not, so they come from their own query."""
    total = ReportRow(
        key="total",
        **{name: sum(getattr(r, name) for r in rows) for name in (*COUNT_FIELDS, *MOVE_FIELDS)},
    )
    return _derive(total, overall)


def _derive(row: ReportRow, percentiles: Percentiles) -> ReportRow:
    """What follows from the counts; automated touches are the completed ones nobody did by
    hand."""
    row.touches_automated = row.touches - row.touches_manual
    row.median_first_touch_seconds, row.p90_first_touch_seconds = percentiles
    decided = row.met + row.breached
    row.compliance_rate = round(row.met / decided, 3) if decided else None
    return row


def _add_strikes(report: Report, struck: list[OwnerStrikes]) -> None:
    """Strike counts on owner rows, owners with strikes first, and the list behind them."""
    counts = {o.owner: o.strikes for o in struck}
    report.strike_list = struck
    report.total.strikes = sum(counts.values())
    if report.by != "owner":
        return
    for row in report.rows:
        row.strikes = counts.get(row.key, 0)
    report.rows.sort(key=lambda r: (-(r.strikes or 0), r.key))


def at_risk_now() -> ColumnElement[bool]:
    """Pending with a deadline recorded at risk that is still unmet (one touch clears the first)."""
    first_unmet = and_(
        col(Enrollment.sla_at_risk) == FIRST_TOUCH, col(Enrollment.touches_completed) == 0
    )
    return and_(
        col(Enrollment.sla_status) == SlaStatus.PENDING,
        or_(col(Enrollment.sla_at_risk) == TOUCHES, first_unmet),
    )


def _add_risks_and_moves(
    session: Session, report: Report, key: Any, where: list[ColumnElement[bool]]
) -> None:
    """At-risk counts, and reassignments: by owner, touches since a move count for the new rep.

    Small queries on their own (pending rows, reassigned rows), so the wide aggregate above
    stays served by its covering indexes."""
    row_for = _row_finder(report)
    for name, count in session.execute(
        select(key, func.count()).where(*where, at_risk_now()).group_by(key)
    ).all():
        row_for(name).at_risk = int(count)
    moved = _moved_rows(key, where)
    sums = (func.count(), func.sum(moved.c.touches), func.sum(moved.c.manual))
    by_owner = report.by == "owner"
    for name, count, touches, manual in session.execute(
        select(moved.c.key, *sums).group_by(moved.c.key)
    ).all():
        row = row_for(name)
        row.reassigned = int(count)
        row.reassigned_in = 0 if by_owner else int(count)
        if by_owner:  # what the new reps did is theirs, not the first owner's
            row.touches, row.touches_manual = row.touches - touches, row.touches_manual - manual
    if by_owner:
        received = select(moved.c.receiver, *sums).group_by(moved.c.receiver)
        for name, count, touches, manual in session.execute(received).all():
            row = row_for(name)
            row.reassigned_in = int(count)
            row.touches, row.touches_manual = row.touches + touches, row.touches_manual + manual
    for row in report.rows:
        row.touches_automated = row.touches - row.touches_manual


def _moved_rows(key: Any, where: list[ColumnElement[bool]]) -> Any:
    """The reassigned enrollments, read through their own index first (MATERIALIZED: else the
    planner walks a report index over every row for the GROUP BY)."""
    rows = select(
        key.label("key"),
        col(Enrollment.reassigned_to).label("receiver"),
        col(Enrollment.touches_reassigned).label("touches"),
        col(Enrollment.touches_manual_reassigned).label("manual"),
    ).where(*where, col(Enrollment.reassigned_to) > "")
    return rows.cte("moved").prefix_with("MATERIALIZED")


def _row_finder(report: Report) -> Callable[[Any], ReportRow]:
    """The report's row for a group key, added when the group has no enrollments of its own
    (a rep who only received reassigned leads)."""
    rows = {row.key: row for row in report.rows}

    def row_for(name: Any) -> ReportRow:
        text = key_text(name)
        if text not in rows:
            rows[text] = ReportRow(key=text)
            report.rows.append(rows[text])
        return rows[text]

    return row_for
