"""First-touch percentiles per group, read at their rank with ORDER BY ... LIMIT 1 OFFSET k.

One small query per group (never per enrollment): with the report indexes the database walks
an index in first-touch order and stops at the rank, so no sort and no window over every row.
The same SQL runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import literal, select, union_all
from sqlmodel import Session, col

from models.enrollment import Enrollment

Percentiles = tuple[int | None, int | None]  # (median, 90th percentile) in seconds


def ranks(count: int) -> tuple[int, int, int]:
    """0-based ranks of the two middles (equal when count is odd) and the 90th percentile.

    The median averages the middles; the 90th percentile is the nearest rank, ceil(0.9 x n).
    """
    return (count - 1) // 2, count // 2, (count * 90 + 99) // 100 - 1


def _at_rank(conditions: list[Any], rank: int, count: int, tag: str) -> Any:
    seconds = col(Enrollment.first_touch_seconds)
    ordered = (
        select(seconds.label("s"))
        .where(seconds.is_not(None), *conditions)
        .order_by(seconds)
        .offset(rank)
        .limit(count)
        .subquery()
    )
    return select(literal(tag).label("tag"), ordered.c.s)


def percentiles_of(session: Session, conditions: list[Any], touched: int) -> Percentiles:
    """Median and 90th percentile of the `touched` first-touch times that match `conditions`."""
    if touched == 0:
        return None, None
    low, high, p90 = ranks(touched)
    rows = session.execute(
        union_all(
            _at_rank(conditions, low, high - low + 1, "median"),
            _at_rank(conditions, p90, 1, "p90"),
        )
    ).all()
    middles = [int(s) for tag, s in rows if tag == "median"]
    ninetieth = [int(s) for tag, s in rows if tag == "p90"]
    median = round(sum(middles) / len(middles)) if middles else None
    return median, (ninetieth[0] if ninetieth else None)
