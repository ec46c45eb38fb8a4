"""First-touch time percentiles per group with window functions (SQLite >= 3.25 and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from models.enrollment import Enrollment


def _nearest_rank(count: Any, percent: int) -> Any:
    """ceil(percent/100 x count) in integer arithmetic, the same on every database."""
    return (count * percent + 99) // 100


def first_touch_percentiles(
    session: Session, partition: ColumnElement[Any], where: list[Any]
) -> dict[str, tuple[int | None, int | None]]:
    """{key: (median, 90th percentile)} of first-touch seconds; the median averages the middles."""
    seconds = col(Enrollment.first_touch_seconds)
    ranked = (
        select(
            partition.label("key"), seconds.label("s"),
            func.row_number().over(partition_by=partition, order_by=seconds).label("n"),
            func.count().over(partition_by=partition).label("c"),
        )
        .where(seconds.is_not(None), *where)
        .subquery()
    )
    n, c, s = ranked.c.n, ranked.c.c, ranked.c.s
    middle = (n == (c + 1) // 2) | (n == (c + 2) // 2)
    median = func.avg(case((middle, s)))
    p90 = func.max(case((n == _nearest_rank(c, 90), s)))
    rows = session.execute(select(ranked.c.key, median, p90).group_by(ranked.c.key)).all()
    return {
        str(key): (None if m is None else round(float(m)), None if p is None else int(p))
        for key, m, p in rows
    }
