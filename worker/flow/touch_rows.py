"""A touch with its enrollment and lead: the one join every use-case reads touches through."""

from __future__ import annotations

from sqlalchemy import Table
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from models.enrollment import Enrollment
from models.lead import Lead
from models.touch import Touch

TouchRow = tuple[Touch, Enrollment, Lead]
# For Core statements on the delivery's hot path (no ORM bookkeeping); SQLModel sets it.
TOUCH_TABLE: Table = Touch.__table__  # type: ignore[attr-defined]


def touch_rows() -> Select[Touch, Enrollment, Lead]:
    """SELECT touch, enrollment, lead; callers add their WHERE, ORDER BY and LIMIT."""
    return (
        select(Touch, Enrollment, Lead)
        .join(Enrollment, col(Enrollment.id) == Touch.enrollment_id)
        .join(Lead, col(Lead.id) == Touch.lead_id)
    )


def load_touch(session: Session, touch_id: int) -> TouchRow:
    """One touch, fresh from the database (another worker may have just changed it)."""
    return session.exec(
        touch_rows().where(col(Touch.id) == touch_id).execution_options(populate_existing=True)
    ).one()


def load_touches(session: Session, touch_ids: list[int]) -> list[TouchRow]:
    """Several touches in one read, fresh from the database, in id order."""
    rows = session.exec(
        touch_rows()
        .where(col(Touch.id).in_(touch_ids))
        .order_by(col(Touch.id))
        .execution_options(populate_existing=True)
    ).all()
    return list(rows)
