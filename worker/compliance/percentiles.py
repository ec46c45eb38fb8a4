"""First-touch percentiles per group, read at their rank with ORDER BY ... LIMIT 1 OFFSET k.

One small query per group (never per enrollment): with the report indexes the database walks
an index in first-touch order and stops at the rank, so no sort and no window over every row.
A period's rows are in no index in first-touch order, so they are sorted once and the three
ranks picked by row_number() (`sorted_once`) rather than sorted once a rank.
On PostgreSQL the groups' come from ordered-set aggregates in the report's grouped query
instead (no query per group); the total is read at its rank on both.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, cast, func, literal, select, union_all
from sqlmodel import Session, col

from models.enrollment import Enrollment

Percentiles = tuple[int | None, int | None]  # (median, 90th percentile) in seconds


def ranks(count: int) -> tuple[int, int, int]:
    """0-based ranks of the two middles (equal when count is odd) and the 90th percentile.

    The median averages the middles; the 90th percentile is the nearest rank, ceil(0.9 x n).
    """
    return (count - 1) // 2, count // 2, (count * 90 + 99) // 100 - 1


def aggregated_percentiles() -> list[Any]:
    """PostgreSQL's aggregates of the same figures: percentile_cont(0.5) averages the two
    middles, percentile_disc(0.9) is the nearest rank (ceil(0.9 x n) in float8, as `ranks`).

    Both order the same float8 expression, so PostgreSQL sorts each group once for the two
    (whole seconds are exact in float8; `from_aggregates` turns the rank's value back to int)."""
    seconds = cast(col(Enrollment.first_touch_seconds), Float)
    return [
        func.percentile_cont(0.5).within_group(seconds).label("median"),
        func.percentile_disc(0.9).within_group(seconds).label("p90"),
    ]


def from_aggregates(median: float | None, p90: float | None) -> Percentiles:
    """The median rounded as `percentiles_of` rounds the middles' mean."""
    return (None if median is None else round(median), None if p90 is None else int(p90))


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


def _ranked(conditions: list[Any], wanted: tuple[int, int, int]) -> Any:
    """The first-touch times at these 0-based ranks, from one sort (row_number is 1-based)."""
    seconds = col(Enrollment.first_touch_seconds)
    numbered = (
        select(seconds.label("s"), func.row_number().over(order_by=seconds).label("n"))
        .where(seconds.is_not(None), *conditions)
        .subquery()
    )
    return select(numbered.c.n - 1, numbered.c.s).where(
        numbered.c.n.in_(sorted({rank + 1 for rank in wanted}))
    )


def percentiles_of(
    session: Session, conditions: list[Any], touched: int, *, sorted_once: bool = False
) -> Percentiles:
    """Median and 90th percentile of the `touched` first-touch times that match `conditions`;
    `sorted_once` when no index serves them in first-touch order."""
    if touched == 0:
        return None, None
    low, high, p90 = ranks(touched)
    if sorted_once:
        at = {
            int(rank): int(s) for rank, s in session.execute(_ranked(conditions, (low, high, p90)))
        }
        middles = [at[rank] for rank in {low, high} if rank in at]
        ninetieth = [at[p90]] if p90 in at else []
    else:
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
