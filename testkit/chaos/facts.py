"""What the database and the sink journal say, read into the checker's facts (facts in, the
checker decides). Reads through the project's own models and calendar, on any database URL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from models.enrollment import Enrollment, EnrollmentStatus
from models.lead import Lead
from models.touch import Touch, TouchKind
from testkit.chaos.checker import Delivery, TouchFact
from testkit.chaos.sink import SinkRecord
from testkit.chaos.sink_plan import Verdict
from worker.engine.runtime import Runtime
from worker.specs.calendar import is_open
from worker.specs.sequences import SequenceSpec


def epoch(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def touch_facts(
    rt: Runtime, first_due: dict[int, float] | None = None, offset: float = 0.0
) -> tuple[list[TouchFact], Callable[[TouchFact, float], bool]]:
    """Every email touch, and a test of "this instant is outside that touch's send window".
    `first_due` (a due_snapshot taken before the faults) wins over the rows' due_at, which a
    re-drive resets. `offset`: how far the processes' clock runs ahead (FOLLOWUP_CLOCK_OFFSET_
    SECONDS); every time is given back on the system clock, as the sink's journal has them."""
    facts, windows = [], {}
    first_due = first_due or {}

    def real(moment: datetime | None) -> float | None:
        at = epoch(moment)
        return None if at is None else at - offset

    query = (
        select(Touch, Lead, Enrollment)
        .join(Lead, col(Lead.id) == Touch.lead_id)
        .join(Enrollment, col(Enrollment.id) == Touch.enrollment_id)
        .where(col(Touch.kind) == TouchKind.EMAIL)
        .order_by(col(Touch.id))
    )
    with Session(rt.engine) as session:
        specs: dict[str, SequenceSpec] = {}
        for touch, lead, enrollment in session.exec(query).all():
            exited = enrollment.status == EnrollmentStatus.EXITED
            facts.append(
                TouchFact(
                    touch_id=touch.id or 0,
                    lead_email=lead.email,
                    status=str(touch.status),
                    message_id=touch.message_id,
                    due_at=first_due.get(touch.id or 0) or real(touch.due_at) or 0.0,
                    reason=touch.detail or touch.last_error,
                    suppressed_at=real(lead.suppressed_at),
                    ended_at=real(enrollment.ended_at) if exited else None,
                    sender=touch.sender,
                    next_due=real(touch.due_at),
                )
            )
            if enrollment.version not in specs:
                specs[enrollment.version] = rt.versions.get(session, enrollment.version)
            spec = specs[enrollment.version]
            windows[touch.id or 0] = (spec.calendar, spec.zone_for(lead.timezone))

    def outside_window(touch: TouchFact, at: float) -> bool:
        calendar, zone = windows[touch.touch_id]
        return not is_open(datetime.fromtimestamp(at + offset, UTC), calendar, zone)

    return facts, outside_window


def deliveries(records: Sequence[SinkRecord]) -> list[Delivery]:
    """The sink's journal as the checker's deliveries (550 refusals kept: they are attempts)."""
    return [
        Delivery(r.at, r.message_id, r.accepted, late=r.answer is Verdict.LATE) for r in records
    ]


def due_snapshot(rt: Runtime, offset: float = 0.0) -> dict[int, float]:
    """Each email touch's due_at now on the system clock (a re-drive later resets it)."""
    with Session(rt.engine) as session:
        rows = session.exec(
            select(Touch.id, Touch.due_at).where(col(Touch.kind) == TouchKind.EMAIL)
        ).all()
    return {int(touch_id or 0): (epoch(due) or 0.0) - offset for touch_id, due in rows}
