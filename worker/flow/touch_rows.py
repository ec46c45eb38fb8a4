"""A touch with its enrollment and lead: the one join every use-case reads touches through."""

from __future__ import annotations

from sqlalchemy import Table, bindparam
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


def _load_statement() -> Select[Touch, Enrollment, Lead]:
    """load_touches' SELECT, built once: every delivery runs it twice (bound per call)."""
    return (
        touch_rows()
        .where(col(Touch.id).in_(bindparam("touch_ids", expanding=True)))
        .order_by(col(Touch.id))
        .execution_options(populate_existing=True)
    )


_LOAD = _load_statement()


def load_touches(session: Session, touch_ids: list[int]) -> list[TouchRow]:
    """Several touches in one read, fresh from the database, in id order."""
    return list(session.exec(_LOAD, params={"touch_ids": touch_ids}).all())
