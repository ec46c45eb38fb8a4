"""How report rows are keyed (owner, sequence, UTC day/week/month) and windowed, in portable SQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from models.enrollment import Enrollment

GroupBy = Literal["owner", "sequence", "day", "week", "month"]
GROUPINGS: tuple[str, ...] = ("owner", "sequence", "day", "week", "month")
PERIODS: tuple[str, ...] = ("day", "week", "month")  # the groupings keyed by when they enrolled
NO_OWNER = "(no owner)"
TOTAL_KEY = "(total)"  # the partition of "every row"; queried on its own, so it cannot clash


def period_key(column: Any, by: str, dialect: str) -> ColumnElement[str]:
    """The UTC day, ISO-week Monday or month of a timestamp, as text, on SQLite and PostgreSQL."""
    if dialect == "sqlite":
        if by == "week":
            return func.date(column, "-6 days", "weekday 1")
        return func.strftime("%Y-%m-%d" if by == "day" else "%Y-%m", column)
    utc = func.timezone("UTC", column)
    if by == "week":
        return func.to_char(func.date_trunc("week", utc), "YYYY-MM-DD")
    return func.to_char(utc, "YYYY-MM-DD" if by == "day" else "YYYY-MM")


def group_key(by: str, dialect: str) -> ColumnElement[str]:
    """The row key of an enrollment: its owner (NULL for none, see `key_text`), its sequence,
    or the period it enrolled in; plain columns let the report indexes serve the GROUP BY."""
    if by == "owner":
        return col(Enrollment.owner)  # type: ignore[return-value]  # NULLable str column
    if by == "sequence":
        return col(Enrollment.sequence)  # type: ignore[return-value]  # col() types it loosely
    return period_key(col(Enrollment.enrolled_at), by, dialect)


def key_text(value: Any) -> str:
    return NO_OWNER if value is None else str(value)


def group_conditions(by: str, key: str) -> list[ColumnElement[bool]]:
    """The rows of one report group, as conditions an index can serve."""
    if by == "owner":
        owner = col(Enrollment.owner)
        return [owner.is_(None) if key == NO_OWNER else owner == key]
    if by == "sequence":
        return [col(Enrollment.sequence) == key]
    start, end = period_bounds(by, key)
    return [col(Enrollment.enrolled_at) >= start, col(Enrollment.enrolled_at) < end]


def period_bounds(by: str, key: str) -> tuple[datetime, datetime]:
    """[start, end) in UTC of a day (YYYY-MM-DD), ISO week (its Monday) or month (YYYY-MM)."""
    if by == "month":
        first = date.fromisoformat(f"{key}-01")
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    else:
        first = date.fromisoformat(key)
        following = first + timedelta(days=7 if by == "week" else 1)
    return (
        datetime.combine(first, datetime.min.time(), tzinfo=UTC),
        datetime.combine(following, datetime.min.time(), tzinfo=UTC),
    )


def period_of(by: str, moment: datetime) -> str:
    """The key of the UTC day, ISO week (its Monday) or month holding `moment`, as `period_key`
    spells it in SQL."""
    day = moment.astimezone(UTC).date()
    if by == "month":
        return f"{day.year:04d}-{day.month:02d}"
    return (day - timedelta(days=day.weekday()) if by == "week" else day).isoformat()


def periods_between(by: str, first: datetime, last: datetime) -> list[str]:
    """Every period's key from the one holding `first` to the one holding `last`, in order."""
    keys = [period_of(by, first)]
    while (end := period_bounds(by, keys[-1])[1]) <= last:
        keys.append(period_of(by, end))
    return keys


def enrolled_window(since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    """Reports are cohorts: the enrollments that started in [since, until)."""
    conditions = []
    if since is not None:
        conditions.append(col(Enrollment.enrolled_at) >= since)
    if until is not None:
        conditions.append(col(Enrollment.enrolled_at) < until)
    return conditions
