"""A touch with its enrollment and lead: the one join every use-case reads touches through, as
ORM objects (TouchRow), or as what the delivery's claim (ClaimRow) and record (RecordRow) read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, bindparam
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from models.enrollment import PROGRESS_COLUMNS, Enrollment, EnrollmentProgress, current_owner_sql
from models.lead import LEAD_COLUMNS, LEAD_FACTS, Lead, LeadFacts, template_context
from models.touch import Touch

TouchRow = tuple[Touch, Enrollment, Lead]
# For Core statements on the delivery's hot path (no ORM bookkeeping); SQLModel sets them.
TOUCH_TABLE: Table = Touch.__table__  # type: ignore[attr-defined]
_ENROLLMENT_TABLE: Table = Enrollment.__table__  # type: ignore[attr-defined]
_LEAD_TABLE: Table = Lead.__table__  # type: ignore[attr-defined]


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


@dataclass(frozen=True, slots=True)
class ClaimRow:
    """What claiming a touch reads of it, its enrollment and its lead, as plain values from one
    Core read (issue 15: loading the three as ORM objects was ~10% of a send's CPU)."""

    touch_id: int
    step: str
    variant: str | None
    message_id: str | None
    attempts: int
    enrollment_id: int
    version: str
    current_owner: str | None  # Enrollment.current_owner, read as current_owner_sql()
    enrollment_status: str
    held_until: datetime | None
    lead_id: int
    lead_email: str
    lead_timezone: str | None
    lead_context: dict[str, Any]  # as Lead.template_context()
    suppressed_at: datetime | None
    suppressed_reason: str | None


def _claim_read() -> Any:
    """load_claim_rows' SELECT, built once (bound per call)."""
    touch, enrollment, lead = TOUCH_TABLE.c, _ENROLLMENT_TABLE.c, _LEAD_TABLE.c
    return (
        core_select(
            touch.id,
            touch.step,
            touch.variant,
            touch.message_id,
            touch.attempts,
            enrollment.id.label("enrollment_id"),
            enrollment.version,
            current_owner_sql().label("current_owner"),
            enrollment.status.label("enrollment_status"),
            enrollment.held_until,
            lead.id.label("lead_id"),
            *(lead[name].label(f"lead_{name}") for name in LEAD_COLUMNS),
            lead.fields,
            lead.suppressed_at,
            lead.suppressed_reason,
        )
        .join_from(TOUCH_TABLE, _ENROLLMENT_TABLE, enrollment.id == touch.enrollment_id)
        .join(_LEAD_TABLE, lead.id == touch.lead_id)
        .where(
            touch.id.in_(bindparam("touch_ids", expanding=True)),
            touch.status == bindparam("status"),
        )
        .order_by(touch.id)
    )


_CLAIM_READ = _claim_read()


def load_claim_rows(session: Session, touch_ids: list[int], *, status: str) -> list[ClaimRow]:
    """Those of several touches in this status as ClaimRows, in id order, in one read."""
    bound = {"touch_ids": touch_ids, "status": status}
    rows = session.connection().execute(_CLAIM_READ, bound)
    return [_claim_row(row) for row in rows]


def _claim_row(row: Row[Any]) -> ClaimRow:
    columns = row._mapping
    return ClaimRow(
        touch_id=row.id,
        step=row.step,
        variant=row.variant,
        message_id=row.message_id,
        attempts=row.attempts,
        enrollment_id=row.enrollment_id,
        version=row.version,
        current_owner=row.current_owner,
        enrollment_status=row.enrollment_status,
        held_until=row.held_until,
        lead_id=row.lead_id,
        lead_email=row.lead_email,
        lead_timezone=row.lead_timezone,
        lead_context=template_context(
            row.fields, {name: columns[f"lead_{name}"] for name in LEAD_COLUMNS}
        ),
        suppressed_at=row.suppressed_at,
        suppressed_reason=row.suppressed_reason,
    )


@dataclass(frozen=True, slots=True)
class StepTouch:
    """What recording a touch reads of it: the step it finished (finish_step's `touch`)."""

    id: int
    step: str


# What recording a message's touches reads: the touch's step, the enrollment's progress (finishing
# a step changes it: counters, verdict, completion; one object an enrollment, however many of its
# touches the message holds) and the lead's facts.
RecordRow = tuple[StepTouch, EnrollmentProgress, LeadFacts]


def _record_read() -> Any:
    """load_record_rows' SELECT, built once (bound per call). On PostgreSQL it locks the
    enrollments until the record commits (SQLite's writer lock already covers the transaction):
    an exit or a manual touch another transaction commits between the record's read and its
    write would otherwise be written over from the stale read (an exited enrollment completed,
    a count lost). In enrollment order, so two records lock their rows in the same order."""
    touch, enrollment, lead = TOUCH_TABLE.c, _ENROLLMENT_TABLE.c, _LEAD_TABLE.c
    return (
        core_select(
            touch.id,
            touch.step,
            *(enrollment[name] for name in PROGRESS_COLUMNS),
            *(lead[name] for name in LEAD_FACTS),
        )
        .join_from(TOUCH_TABLE, _ENROLLMENT_TABLE, enrollment.id == touch.enrollment_id)
        .join(_LEAD_TABLE, lead.id == touch.lead_id)
        .where(touch.id.in_(bindparam("touch_ids", expanding=True)))
        .order_by(enrollment.id, touch.id)
        .with_for_update(of=_ENROLLMENT_TABLE)
    )


_RECORD_READ = _record_read()
_PROGRESS_END = 2 + len(PROGRESS_COLUMNS)  # where a record row's enrollment columns end


def load_record_rows(session: Session, touch_ids: list[int]) -> list[RecordRow]:
    """Several touches as RecordRows, fresh from the database (their enrollments locked until
    the transaction ends), in enrollment order, in one Core read."""
    rows = session.connection().execute(_RECORD_READ, {"touch_ids": touch_ids})
    progress: dict[int, EnrollmentProgress] = {}
    loaded = []
    for row in rows:
        enrollment_id = row[2]
        if enrollment_id not in progress:
            progress[enrollment_id] = EnrollmentProgress(*row[2:_PROGRESS_END])
        loaded.append(
            (StepTouch(row[0], row[1]), progress[enrollment_id], LeadFacts(*row[_PROGRESS_END:]))
        )
    return loaded
