"""What `followup status` reports: touch counts, backlog, lag, and which services answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session, col, func, select

from models.compliance import ComplianceEntry, ComplianceKind
from models.enrollment import OPEN_STATUSES, Enrollment
from models.touch import Touch, TouchStatus, is_waiting
from worker.engine.db import ping, reading
from worker.engine.notify_status import notify_sections
from worker.engine.runtime import Runtime
from worker.engine.sending_status import (
    PausedSending,
    SendingState,
    ThrottleState,
    paused_sending,
    sending_states,
    throttle_states,
)
from worker.flow.redrive import LostWork, lost_work
from worker.flow.stale_events import dead_events
from worker.specs.rendering import RENDER_ERROR

if TYPE_CHECKING:
    from worker.inbox.mailbox_status import MailboxState


@dataclass
class Status:
    touches: dict[str, int] = field(default_factory=dict)
    due_backlog: int = 0
    scheduler_lag_seconds: float | None = None
    enrollments: dict[str, int] = field(default_factory=dict)
    orphaned_sequences: dict[str, int] = field(default_factory=dict)  # file removed, still running
    queue_depth: dict[str, int] | None = None
    dead_letters: int | None = None
    services: dict[str, str] = field(default_factory=dict)  # name -> "ok" or the reason
    at_risk: dict[str, int] = field(default_factory=dict)  # rep -> leads at risk now
    alerts: dict[str, int] = field(default_factory=dict)  # SLA alerts by status
    webhooks: dict[str, int] = field(default_factory=dict)  # webhook deliveries by status
    render_failures: int = 0  # failed touches whose template did not render for their lead
    latest_render_failures: list[dict[str, str | None]] = field(default_factory=list)
    mailboxes: list[MailboxState] = field(default_factory=list)  # worker/inbox/mailbox_status.py
    sending: list[SendingState] = field(default_factory=list)  # caps today (sending_status.py)
    throttles: list[ThrottleState] = field(default_factory=list)  # per recipient domain
    paused: list[PausedSending] = field(default_factory=list)  # by the guardrails
    dead_events: int = 0  # events whose meaning raised STALE_EVENT_MAX_FAILURES times
    latest_dead_events: list[str] = field(default_factory=list)  # id, type, lead, error
    lost_work: LostWork = field(default_factory=LostWork)  # stuck past lease, re-drives


def touch_status(session: Session, *, now: datetime, known_sequences: set[str]) -> Status:
    status = Status()
    rows = session.exec(select(Touch.status, func.count()).group_by(col(Touch.status))).all()
    status.touches = {s.value: 0 for s in TouchStatus} | {str(s): int(n) for s, n in rows}
    backlog, oldest = session.exec(
        select(func.count(), func.min(Touch.due_at)).where(is_waiting(), col(Touch.due_at) <= now)
    ).one()
    status.due_backlog = int(backlog)
    status.scheduler_lag_seconds = (now - oldest).total_seconds() if oldest else 0.0
    rows = session.exec(
        select(Enrollment.status, func.count()).group_by(col(Enrollment.status))
    ).all()
    status.enrollments = {str(s): int(n) for s, n in rows}
    running = session.exec(
        select(Enrollment.sequence, func.count())
        .where(col(Enrollment.status).in_(OPEN_STATUSES))
        .group_by(col(Enrollment.sequence))
    ).all()
    status.orphaned_sequences = {s: int(n) for s, n in running if s not in known_sequences}
    status.render_failures, status.latest_render_failures = render_failures(session)
    return status


LATEST_RENDER_FAILURES = 5


def render_failures(session: Session) -> tuple[int, list[dict[str, str | None]]]:
    """Touches still failed by a render error: how many, and the latest few from the log."""
    is_render_failure = col(Touch.detail).startswith(RENDER_ERROR, autoescape=True)
    failed = (Touch.status == TouchStatus.FAILED, is_render_failure)
    count = session.exec(select(func.count()).where(*failed)).one()
    entries = session.exec(
        select(ComplianceEntry)
        .join(Touch, col(Touch.id) == ComplianceEntry.touch_id)
        .where(ComplianceEntry.kind == ComplianceKind.TOUCH_FAILED, *failed)
        .order_by(col(ComplianceEntry.at).desc(), col(ComplianceEntry.id).desc())
        .limit(LATEST_RENDER_FAILURES)
    ).all()
    latest = [
        {
            "at": entry.at.isoformat(),
            "lead": entry.lead_email,
            "sequence": entry.sequence,
            "step": entry.step,
            "detail": entry.detail,
        }
        for entry in entries
    ]
    return int(count), latest


def inbox_states(rt: Runtime, session: Session) -> list[MailboxState]:
    """Each watched mailbox's last fetch, lag, outcomes and errors."""
    from worker.inbox.mailbox_status import mailbox_states
    from worker.inbox.watcher import watched_names

    return mailbox_states(session, watched=watched_names(rt), now=rt.clock.now())


def collect_status(rt: Runtime) -> Status:
    """Everything `followup status` shows; services that do not answer are reported, not raised."""
    db_problem = ping(rt.engine)
    result = Status()
    if db_problem is None:
        with reading(rt.engine) as session:
            result = touch_status(
                session, now=rt.clock.now(), known_sequences=set(rt.catalog.sequences)
            )
            sections = notify_sections(session)
            result.at_risk, result.alerts = sections["at_risk"], sections["alerts"]
            result.webhooks = sections["webhooks"]
            result.mailboxes = inbox_states(rt, session)
            result.sending = sending_states(session, rt.catalog.team, now=rt.clock.now())
            result.throttles = throttle_states(session, rt.catalog.team, now=rt.clock.now())
            result.paused = paused_sending(session)
            result.dead_events, result.latest_dead_events = dead_events(session)
            result.lost_work = lost_work(session, now=rt.clock.now())
    result.services["database"] = db_problem or "ok"
    result.services["smtp" if rt.settings.smtp_url else "outbox"] = rt.mailer.check() or "ok"
    if rt.broker_health is not None:
        result.services["redis"], result.queue_depth, result.dead_letters = rt.broker_health.check()
    else:
        result.services["redis"] = "not configured (embedded broker)"
    return result
