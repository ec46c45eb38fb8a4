"""The rows an enrollment starts with (the enrollment, its first touch, its log entry), written
in bulk with SQLAlchemy Core: no ORM object is built or read back per lead (imports enroll
thousands at a time, and each POST /events one)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlmodel import Session

from models.compliance import ComplianceKind
from models.enrollment import OPEN_STATUSES, Enrollment
from models.lead import EnrollingLead
from models.touch import Touch
from worker.compliance import log
from worker.flow.scheduling import step_touch_values
from worker.notify.outbox import iso
from worker.specs.sequences import SequenceSpec

_ENROLLMENTS = Enrollment.__table__  # type: ignore[attr-defined]  # SQLModel sets it on tables
_TOUCHES = Touch.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class StartedEnrollment:
    """A new enrollment as inserted: its id and the columns a start's log entry and webhook read
    (load the Enrollment by id when the whole row is wanted)."""

    id: int
    lead_id: int
    sequence: str
    version: str
    owner: str | None
    sla_status: str
    sla_first_due_at: datetime | None
    sla_first_risk_at: datetime | None
    sla_window_due_at: datetime | None
    sla_window_risk_at: datetime | None
    sla_min_touches: int | None

    @property
    def current_owner(self) -> str | None:
        return self.owner  # a new enrollment is not reassigned yet

    @classmethod
    def from_values(cls, enrollment_id: int, values: dict[str, Any]) -> StartedEnrollment:
        return cls(enrollment_id, *(values[name] for name in _STARTED_COLUMNS))


_STARTED_COLUMNS = tuple(f.name for f in fields(StartedEnrollment) if f.name != "id")


def insert_enrollments(session: Session, rows: list[dict[str, Any]]) -> list[StartedEnrollment]:
    """The rows inserted, in the rows' order. One row: INSERT ... RETURNING; more: one
    executemany, then their ids read by lead (a lead has one open enrollment per sequence;
    RETURNING would go row by row)."""
    if not rows:
        return []
    session.flush()  # the pinned version first: the rows refer to it
    table = _ENROLLMENTS
    if len(rows) == 1:
        new_id = session.execute(insert(table).returning(table.c.id), rows[0]).scalar_one()
        ids = {rows[0]["lead_id"]: new_id}
    else:
        session.execute(insert(table), rows)
        stored = select(table.c.lead_id, table.c.id).where(
            table.c.lead_id.in_([row["lead_id"] for row in rows]),
            table.c.sequence == rows[0]["sequence"],
            table.c.status.in_(OPEN_STATUSES),
        )
        ids = {lead_id: new_id for lead_id, new_id in session.execute(stored)}
    return [StartedEnrollment.from_values(ids[row["lead_id"]], row) for row in rows]


def plan_first_touches(
    session: Session,
    started: Sequence[tuple[EnrollingLead, StartedEnrollment, datetime]],
    spec: SequenceSpec,
) -> None:
    """Each new enrollment's first touch and its enrollment.started entry (lead, enrollment,
    when it started), one INSERT each."""
    if not started:
        return
    first = spec.steps[0]
    touches = [step_touch_values(e.id, lead, spec, first, at) for lead, e, at in started]
    session.execute(insert(_TOUCHES), touches)
    entries = []
    for lead, enrollment, at in started:
        data = {"version": enrollment.version, "sla": _sla_data(enrollment, spec)}
        values = log.entry_values(
            ComplianceKind.ENROLLMENT_STARTED,
            at=at,
            lead_email=lead.email,
            enrollment=enrollment,
            detail=f"version {enrollment.version[:12]}",
            data=data,
        )
        entries.append((values, data))
    log.append_all(session, entries)


def _sla_data(enrollment: StartedEnrollment, spec: SequenceSpec) -> dict[str, object] | None:
    """The promise an enrollment started under, as webhook data."""
    if spec.sla is None:
        return None
    moments = {
        "first_touch_due": enrollment.sla_first_due_at,
        "touches_due": enrollment.sla_window_due_at,
        "first_touch_at_risk": enrollment.sla_first_risk_at,
        "touches_at_risk": enrollment.sla_window_risk_at,
    }
    terms: dict[str, object] = {k: iso(v) for k, v in moments.items() if v is not None}
    return {**terms, "clock": spec.sla.clock, "min_touches": enrollment.sla_min_touches}
