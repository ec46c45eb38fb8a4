"""WHERE A TOUCH IS SCHEDULED: plan a step's touch row, claim due rows (lost ones come back in
flow/redrive.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Executable, Update, bindparam, text, update
from sqlmodel import Session, col, func, select

from models.compliance import ComplianceKind
from models.enrollment import Enrollment, EnrollmentState, EnrollmentStatus
from models.lead import EnrollingLead
from models.touch import FINAL, WAITING, WAITING_SQL, Touch, TouchKind, TouchStatus, is_waiting
from models.types import UTCDateTime
from worker.compliance import log
from worker.compliance.recording import note_touch_completed, refresh_verdict
from worker.engine.db import changed_rows
from worker.engine.metrics import TOUCHES, count_on_commit
from worker.engine.tunables import CLAIM_BATCH, QUEUED_LEASE
from worker.specs.calendar import add_wait, plan_due
from worker.specs.sequences import SequenceSpec, StepSpec


def plan_step(
    session: Session,
    *,
    enrollment: EnrollmentState,
    lead: EnrollingLead,
    spec: SequenceSpec,
    step: StepSpec,
    after: datetime,
) -> Touch:
    """Write the touch row for `step`, due `step.wait` after `after`, inside the send window."""
    assert enrollment.id is not None, "plan steps of stored enrollments"
    touch = Touch(**step_touch_values(enrollment.id, lead, spec, step, after))
    session.add(touch)
    return touch


def step_touch_values(
    enrollment_id: int, lead: EnrollingLead, spec: SequenceSpec, step: StepSpec, after: datetime
) -> dict[str, Any]:
    """The columns of `step`'s touch row (plan_step's, and a batch insert's)."""
    zone = spec.zone_for(lead.timezone)
    due = plan_due(after, step.wait, spec.calendar, zone)
    variant = step.variant_for(lead.email, spec.name)  # recorded, so it never switches
    return {
        "enrollment_id": enrollment_id,
        "lead_id": lead.id,
        "sequence": spec.name,  # the report counts sends per sequence from the touch alone
        "step": step.id,
        "kind": TouchKind.TASK if step.task else TouchKind.EMAIL,
        "status": TouchStatus.OPEN if step.task else TouchStatus.SCHEDULED,
        "due_at": due,
        "expires_at": add_wait(due, step.due_within, spec.calendar, zone)
        if step.due_within
        else None,
        "variant": variant.name if variant else None,
    }


def plan_next_touch(
    session: Session,
    *,
    enrollment: EnrollmentState,
    lead: EnrollingLead,
    spec: SequenceSpec,
    completed_step: str,
    at: datetime,
) -> Touch | None:
    """After a step completes: plan the next one, or complete the enrollment. Steps planned
    already (a failed touch retried by hand: its successors went on) are not planned twice."""
    step, skipped = spec.step_after(completed_step), False
    while step is not None and _planned(session, enrollment, step):
        step, skipped = spec.step_after(step.id), True
    if step is None:
        if not skipped or not _pending(session, enrollment):
            enrollment.status = EnrollmentStatus.COMPLETED
            enrollment.ended_at = at
            _keep(session, enrollment)
        return None
    return plan_step(session, enrollment=enrollment, lead=lead, spec=spec, step=step, after=at)


def _planned(session: Session, enrollment: EnrollmentState, step: StepSpec) -> bool:
    found = select(Touch.id).where(
        Touch.enrollment_id == enrollment.id, Touch.step == step.id, Touch.kind != TouchKind.LOGGED
    )
    return session.exec(found.limit(1)).first() is not None


def _pending(session: Session, enrollment: EnrollmentState) -> bool:
    """Touches of the enrollment still to go out (the step after a retried one, say)."""
    waiting = select(Touch.id).where(
        Touch.enrollment_id == enrollment.id, col(Touch.status).not_in(FINAL)
    )
    return session.exec(waiting.limit(1)).first() is not None


class FinishedTouch(Protocol):
    """What finishing a step reads of its touch: a stored Touch, or a delivery's StepTouch."""

    @property
    def id(self) -> int | None: ...
    @property
    def step(self) -> str: ...


def finish_step(
    session: Session,
    *,
    touch: FinishedTouch,
    enrollment: EnrollmentState,
    lead: EnrollingLead,
    spec: SequenceSpec,
    kind: ComplianceKind,
    at: datetime,
    now: datetime,
    detail: str | None = None,
    completed: bool = False,
    manual: bool = False,
    plan_next: bool = True,
) -> None:
    """A step's touch is over (sent, done, failed, skipped): log it, count it if it was
    completed, and plan the next step while the enrollment is active."""
    if completed:
        note_touch_completed(enrollment, at, manual=manual)
    outcome = kind.value.split(".", 1)[1]  # touch.sent -> sent, task.completed -> completed
    count_on_commit(session, TOUCHES.labels(outcome=outcome, sequence=spec.name))
    entry = log.entry_values(
        kind,
        at=at,
        lead_email=lead.email,
        enrollment=enrollment,
        step=touch.step,
        touch_id=touch.id,
        detail=detail,
    )
    with session.no_autoflush:  # the enrollment's changes go at the batch's flush, together
        log.append_all(session, [(entry, {})])  # Core: no ORM object per entry (issue 15)
    if completed:
        refresh_verdict(session, enrollment, lead.email, now)
    if plan_next and enrollment.status == EnrollmentStatus.ACTIVE:
        plan_next_touch(
            session, enrollment=enrollment, lead=lead, spec=spec, completed_step=touch.step, at=at
        )
    _keep(session, enrollment)


def _keep(session: Session, enrollment: EnrollmentState) -> None:
    """session.add for an enrollment from elsewhere; one loaded here is kept already (add walks
    its cascade each time: ~4% of a send's CPU when every touch did it twice, issue 15), and
    progress read as plain values is written by whoever read it (delivery_records.py)."""
    if isinstance(enrollment, Enrollment) and enrollment not in session:
        session.add(enrollment)


def _claim_statement() -> Update:
    """Due rows to `queued` on PostgreSQL, built once (bound per call): the first `limit` due
    read in due order from ix_touch_due (is_waiting: its literal predicate), locked, their ids
    taken as an array (ANY(ARRAY(...)): one probe an id, where IN let a prepared statement's
    generic plan join a scan of the whole table)."""
    due = (
        select(Touch.id)
        .where(is_waiting(), col(Touch.due_at) <= bindparam("now"))
        .order_by(col(Touch.due_at), col(Touch.id))
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
    )
    return (
        update(Touch)
        .where(col(Touch.id) == func.any(func.array(due.scalar_subquery())), is_waiting())
        .values(status=TouchStatus.QUEUED, lease_until=bindparam("lease_until"))
        .returning(col(Touch.id), col(Touch.redrives))
        .execution_options(synchronize_session=False)  # ids only: no session object to update
    )


# ... and on SQLite, which SQLAlchemy cannot give an index hint: un-ANALYZEd, its planner took
# ix_touch_status_due (and sorted the whole backlog) for the subquery and scanned it again for
# the outer WHERE. One statement under the writer lock: what the subquery picks is waiting.
_SQLITE_CLAIM = text(
    "UPDATE touch SET status = :queued, lease_until = :lease_until WHERE id IN ("
    f"SELECT id FROM touch INDEXED BY ix_touch_due WHERE {WAITING_SQL} AND due_at <= :now "
    "ORDER BY due_at, id LIMIT :limit) RETURNING id, redrives"
).bindparams(
    bindparam("now", type_=UTCDateTime()),
    bindparam("lease_until", type_=UTCDateTime()),
    queued=str(TouchStatus.QUEUED),
)
_CLAIM: dict[str, Executable] = {"postgresql": _claim_statement(), "sqlite": _SQLITE_CLAIM}


@dataclass(frozen=True)
class Claimed:
    """A claim's touch ids, in order, and those among them once lost mid-send (re-driven after
    their sending lease ran out: a worker died, or a render or send hung with them)."""

    ids: list[int]
    redriven: frozenset[int]


def claim_due(
    session: Session,
    *,
    now: datetime,
    limit: int = CLAIM_BATCH,
    lease_for: timedelta = QUEUED_LEASE,
) -> Claimed:
    """Atomically move due touches to `queued` (compare-and-set; SKIP LOCKED on PostgreSQL)."""
    bound = {"now": now, "limit": limit, "lease_until": now + lease_for}
    rows = session.execute(_CLAIM[session.get_bind().dialect.name], bound).all()
    return Claimed(
        ids=sorted(touch_id for touch_id, _ in rows),
        redriven=frozenset(touch_id for touch_id, redrives in rows if redrives),
    )


_ANY_DUE = select(col(Touch.id)).where(is_waiting(), col(Touch.due_at) <= bindparam("now")).limit(1)


def any_due(session: Session, *, now: datetime) -> bool:
    """Whether a touch is still due (one index probe): after a claim that filled its limit,
    this instead of an empty claim finds that it took the last one."""
    return session.execute(_ANY_DUE, {"now": now}).first() is not None


IN_FLIGHT = (TouchStatus.QUEUED, TouchStatus.SENDING)


def count_in_flight(session: Session) -> int:
    """Touches handed to the broker and not yet recorded: what the workers still have to do."""
    return int(session.exec(select(func.count()).where(col(Touch.status).in_(IN_FLIGHT))).one())


def cancel_pending_touches(session: Session, *, enrollment_id: int, reason: str) -> int:
    """Stop every touch of an enrollment that has not gone out yet (held ones too)."""
    return changed_rows(
        session,
        update(Touch)
        .where(
            col(Touch.enrollment_id) == enrollment_id,
            col(Touch.status).in_(
                (*WAITING, TouchStatus.QUEUED, TouchStatus.OPEN, TouchStatus.HELD)
            ),
        )
        .values(status=TouchStatus.CANCELLED, detail=reason, lease_until=None),
    )
