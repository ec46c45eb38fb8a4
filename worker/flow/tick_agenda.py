"""When each kind of tick work is next due, read in one statement: the simulation's next
wake-up, and a tick's agenda, so a pass with nothing due opens no write transaction (on SQLite
each takes the one writer lock the workers' sends wait for)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Select
from sqlmodel import Session, col, func, select

from models.enrollment import Enrollment, EnrollmentStatus, SlaStatus
from models.event import Event
from models.notification import AlertStatus, SlaAlert
from models.touch import Touch, TouchStatus, is_waiting
from worker.engine.tunables import STALE_EVENT_AFTER


class Work(StrEnum):
    """A kind of tick work, named for the moment it waits for."""

    TOUCH_DUE = "touch_due"  # a waiting touch falls due: claim it
    TASK_EXPIRES = "task_expires"  # an open manual task's due_within runs out: skip it
    SLA_CHECK = "sla_check"  # an SLA deadline passes: record the verdict
    ALERT_CHECK = "alert_check"  # an at-risk moment or a breach to escalate
    REASSIGN = "reassign"  # a breached lead moves to the pool
    ALERT_DUE = "alert_due"  # a pending alert (a digest's hour) is due: the notifier's
    HOLD_ENDS = "hold_ends"  # an auto-reply hold ends
    LEASE_ENDS = "lease_ends"  # a queued or sending touch's lease runs out: re-drive it
    EVENT_STALE = "event_stale"  # an accepted event nobody applied is old enough to redo


# Each moment is the earliest of exactly the rows the work's own pass selects, so a moment in
# the future (or none) means that pass would find nothing.
_NEXT_DUE = select(func.min(Touch.due_at)).where(is_waiting())
_MOMENTS: dict[Work, Select[Any]] = {
    Work.TOUCH_DUE: _NEXT_DUE,
    Work.TASK_EXPIRES: select(func.min(Touch.expires_at)).where(Touch.status == TouchStatus.OPEN),
    Work.SLA_CHECK: select(func.min(Enrollment.sla_next_check_at)).where(
        Enrollment.sla_status == SlaStatus.PENDING
    ),
    Work.ALERT_CHECK: select(func.min(Enrollment.sla_alert_check_at)),
    Work.REASSIGN: select(func.min(Enrollment.sla_reassign_at)),
    Work.ALERT_DUE: select(func.min(SlaAlert.due_at)).where(SlaAlert.status == AlertStatus.PENDING),
    Work.HOLD_ENDS: select(func.min(Enrollment.held_until)).where(
        Enrollment.status == EnrollmentStatus.ACTIVE
    ),
    Work.LEASE_ENDS: select(func.min(Touch.lease_until)).where(
        col(Touch.status).in_((TouchStatus.QUEUED, TouchStatus.SENDING))
    ),
    Work.EVENT_STALE: select(func.min(Event.received_at)).where(  # + STALE_EVENT_AFTER
        col(Event.processed_at).is_(None), col(Event.dead_at).is_(None)
    ),
}
# A lease running out or a lost event is a fault's after-effect, not a moment the simulation
# moves its clock to (it drains every message before moving on).
_WAKEUPS = tuple(work for work in Work if work not in (Work.LEASE_ENDS, Work.EVENT_STALE))


def _moments_statement(works: tuple[Work, ...]) -> Select[Any]:
    return select(*(_MOMENTS[work].scalar_subquery().label(work.value) for work in works))


_AGENDA = _moments_statement(tuple(Work))
_NEXT_WAKEUP = _moments_statement(_WAKEUPS)


@dataclass(frozen=True)
class TickAgenda:
    """The earliest moment of each kind of work, as read at `now`."""

    now: datetime
    moments: dict[Work, datetime | None]

    def due(self, work: Work) -> bool:
        moment = self.moments[work]
        return moment is not None and moment <= self.now


def read_agenda(session: Session, *, now: datetime) -> TickAgenda:
    """What a tick has to do at `now` (a snapshot: work that falls due later waits a tick)."""
    row = session.execute(_AGENDA).one()
    moments: dict[Work, datetime | None] = dict(zip(Work, row, strict=True))
    received = moments[Work.EVENT_STALE]
    moments[Work.EVENT_STALE] = None if received is None else received + STALE_EVENT_AFTER
    return TickAgenda(now, moments)


def next_touch_due(session: Session) -> datetime | None:
    """When the next waiting touch falls due (read-only: the scheduler's wait between ticks)."""
    return session.execute(_NEXT_DUE).scalar_one_or_none()


def next_wakeup(session: Session) -> datetime | None:
    """When a tick next has work: a touch falls due, a task expires, an SLA deadline or at-risk
    moment passes, a reassignment or an alert (a digest's hour) is due, an auto-reply hold ends."""
    found = [moment for moment in session.execute(_NEXT_WAKEUP).one() if moment is not None]
    return min(found) if found else None
