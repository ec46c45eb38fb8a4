"""Recording what a message's sends did, in one transaction with a savepoint a touch: the touch's
final status and its finished step (logged, counted, the next one planned), or a retry with
backoff inside the send window; and the typed outcome."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any

from sqlalchemy import Update, bindparam, update
from sqlmodel import Session

from models.compliance import ComplianceKind
from models.enrollment import EnrollmentProgress
from models.lead import Lead
from models.touch import FINAL, TouchStatus
from worker.engine.db import core_changed_rows, transaction
from worker.engine.logs import log_context
from worker.engine.metrics import TOUCHES, count_on_commit
from worker.engine.runtime import Runtime
from worker.engine.tunables import MAX_ATTEMPTS, MAX_BACKOFF
from worker.flow.backoff import retry_delay
from worker.flow.delivery_batch import TouchBroke, each_touch, savepoints_if_broken
from worker.flow.enrollment import suppress_lead
from worker.flow.enrollment_progress import reload_progress, write_progress
from worker.flow.outgoing import ClaimedTouch
from worker.flow.scheduling import finish_step
from worker.flow.send_slots import give_back_slots
from worker.flow.touch_rows import TOUCH_TABLE, RecordRow, load_record_rows
from worker.mail import PermanentSendError, SendError
from worker.specs.calendar import next_opening

log = logging.getLogger("followup.delivery")


class DeliveryOutcome(StrEnum):
    """What one delivery attempt did with its touch (normalised, as django-anymail does)."""

    SENT = "sent"  # the server accepted it; recorded
    RETRY = "retry"  # a transient failure: scheduled again with backoff
    FAILED = "failed"  # permanent (or out of attempts): recorded, not retried
    CANCELLED = "cancelled"  # suppressed address, ended enrollment or removed step
    HELD = "held"  # the enrollment is paused
    DEFERRED = "deferred"  # outside the send window, or over a mailbox limit
    NOT_QUEUED = "not_queued"  # already handled: a redelivered message
    ALREADY_FINISHED = "already_finished"  # another worker recorded this touch first
    EXPIRED = "expired"  # claimed too late to send inside the lease: handed back, unsent
    LEFT = "left"  # its claim, send or record broke: still claimed, its lease re-drives it


@dataclass(frozen=True)
class Delivery:
    outcome: DeliveryOutcome
    detail: str = ""  # the reason, for the log line (the touch row keeps it too)

    def __str__(self) -> str:
        return f"{self.outcome}: {self.detail}" if self.detail else str(self.outcome)


@dataclass(frozen=True)
class Attempt:
    """What the send of one claimed touch did: accepted (with its subject) or refused."""

    claimed: ClaimedTouch
    subject: str = ""
    error: SendError | None = None


def record_attempts(rt: Runtime, attempts: list[Attempt]) -> dict[int, Delivery]:
    """Each attempt's record by touch id; one whose record broke is left out (still `sending`,
    so its lease re-drives it) and rolls back nothing of the others (delivery_batch.py)."""
    if not attempts:
        return {}
    return savepoints_if_broken(
        lambda isolated: _record_all(rt, attempts, isolated=isolated), what="recording"
    )


def _record_all(rt: Runtime, attempts: list[Attempt], *, isolated: bool) -> dict[int, Delivery]:
    now = rt.clock.now()
    with transaction(rt.engine) as session:
        rows = {row[0].id: row for row in load_record_rows(session, _ids(attempts))}
        batch = list({row[1].id: row[1] for row in rows.values()}.values())  # one an enrollment
        finished = set() if isolated else _finish_all_sent(session, rows, attempts, now)
        broke = False  # isolated: the last touch's savepoint was rolled back

        def record(attempt: Attempt) -> Delivery:
            nonlocal broke
            with log_context(**attempt.claimed.log_ids):
                row = rows[attempt.claimed.touch_id]
                if not isolated:
                    if attempt.claimed.touch_id in finished:
                        return _record_sent(
                            session, row, attempt.claimed, attempt.subject, now, True
                        )
                    return _record(rt, session, row, attempt, now, batch)
                if broke:  # what it changed went with its savepoint: as the database has it now
                    reload_progress(session, batch)
                    broke = False
                try:
                    delivery = _record(rt, session, row, attempt, now, batch)
                    write_progress(session, [row[1]])  # inside the touch's savepoint
                except BaseException:
                    broke = True
                    raise
                return delivery

        done = each_touch(
            session,
            attempts,
            record,
            isolated=isolated,
            what="recording",
            touch_id=lambda attempt: attempt.claimed.touch_id,
        )
        if not isolated:
            _write_all_progress(session, batch)
        return done


def _write_all_progress(session: Session, batch: list[EnrollmentProgress]) -> None:
    """The batch's enrollments in one statement a set of changed columns; a break rolls back
    the whole record (then recorded again a savepoint a touch: delivery_batch.py)."""
    try:
        write_progress(session, batch)
    except Exception as exc:  # re-raised, so the record transaction rolls back
        raise TouchBroke("recording: the enrollments' write broke") from exc


def _ids(attempts: list[Attempt]) -> list[int]:
    return [attempt.claimed.touch_id for attempt in attempts]


def _sent_values(subject: str, now: datetime) -> dict[str, object]:
    """A sent touch's final columns, but the lease (every finish ends it: _conclude)."""
    return {"status": TouchStatus.SENT, "completed_at": now, "subject": subject, "last_error": None}


def _finish_all_sent(
    session: Session, rows: dict[int, RecordRow], attempts: list[Attempt], now: datetime
) -> set[int]:
    """The sent touches' compare-and-sets in one executemany (issue 15: one statement a batch,
    not one a touch); the ids finished. When one lost (another worker finished it first), the
    whole record is rolled back and run again a savepoint a touch, which learns which one."""
    sent = [attempt for attempt in attempts if attempt.error is None]
    if len(sent) < 2 or not session.connection().dialect.supports_sane_multi_rowcount:
        return set()
    params: list[dict[str, Any]] = [
        {"touch_id": attempt.claimed.touch_id, "lease_until": None}
        | _sent_values(attempt.subject, now)
        for attempt in sent
    ]
    statement = _finish_statement(tuple(sorted(params[0].keys() - {"touch_id"})))
    if core_changed_rows(session, statement, params) != len(sent):
        raise TouchBroke("recording: a touch was already finished by another worker")
    return {attempt.claimed.touch_id for attempt in sent}


def _record(
    rt: Runtime,
    session: Session,
    row: RecordRow,
    attempt: Attempt,
    now: datetime,
    batch: list[EnrollmentProgress],
) -> Delivery:
    """`batch`: every enrollment the record read (a bounce ends the lead's others too)."""
    if attempt.error is None:
        return _record_sent(session, row, attempt.claimed, attempt.subject, now)
    return _record_failure(rt, session, row, attempt.claimed, attempt.error, now, batch)


def _finish(session: Session, row: RecordRow, **values: object) -> bool:
    """Compare-and-set out of `sending`; False when another worker already finished the touch."""
    statement = _finish_statement(tuple(sorted(values)))
    return core_changed_rows(session, statement, {"touch_id": row[0].id, **values}) == 1


@cache
def _finish_statement(columns: tuple[str, ...]) -> Update:
    """_finish's UPDATE for these columns, built once per process (bound per call, or with a
    list of parameter sets as one executemany, which takes no expanding IN: hence one `!=` a
    final status rather than NOT IN)."""
    touches = TOUCH_TABLE.c
    return (
        update(TOUCH_TABLE)
        .where(touches.id == bindparam("touch_id"), *(touches.status != final for final in FINAL))
        .values({name: bindparam(name) for name in columns})
    )


def _conclude(
    session: Session,
    row: RecordRow,
    claimed: ClaimedTouch,
    kind: ComplianceKind,
    now: datetime,
    *,
    log_detail: str,
    completed: bool = False,
    plan_next: bool = True,
    finished: bool = False,
    **values: object,
) -> bool:
    """The touch's final status (unless `finished` already stored it), then its step finished
    (logged, counted, next one planned); False when another worker already did it."""
    if not finished and not _finish(session, row, lease_until=None, **values):
        return False
    touch, enrollment, lead = row
    finish_step(
        session,
        touch=touch,
        enrollment=enrollment,
        lead=lead,
        spec=claimed.spec,
        kind=kind,
        at=now,
        now=now,
        detail=log_detail,
        completed=completed,
        plan_next=plan_next,
    )
    return True


def _record_sent(
    session: Session,
    row: RecordRow,
    claimed: ClaimedTouch,
    subject: str,
    now: datetime,
    finished: bool = False,
) -> Delivery:
    concluded = _conclude(
        session,
        row,
        claimed,
        ComplianceKind.TOUCH_SENT,
        now,
        log_detail=subject,
        completed=True,
        finished=finished,
        status=TouchStatus.SENT,  # as _sent_values (spelled out for the type checker)
        completed_at=now,
        subject=subject,
        last_error=None,
    )
    if not concluded:
        return Delivery(DeliveryOutcome.ALREADY_FINISHED, "sent, already recorded")
    return Delivery(DeliveryOutcome.SENT)


def _record_failure(
    rt: Runtime,
    session: Session,
    row: RecordRow,
    claimed: ClaimedTouch,
    error: SendError,
    now: datetime,
    batch: list[EnrollmentProgress],
) -> Delivery:
    reason = str(error)[:900]
    permanent = isinstance(error, PermanentSendError) or claimed.attempts >= MAX_ATTEMPTS
    give_back_slots(session, team=rt.catalog.team, slots=claimed.slots)
    if not permanent:
        return _schedule_retry(rt, session, row, claimed, reason, now)
    if claimed.attempts >= MAX_ATTEMPTS and not isinstance(error, PermanentSendError):
        reason = f"gave up after {claimed.attempts} attempts: {reason}"
    bounced = isinstance(error, PermanentSendError) and error.suppress
    refused = isinstance(error, PermanentSendError) and 500 <= (error.code or 0) <= 599
    if bounced:
        return _record_bounced(session, row, claimed, reason, now, batch, refused=refused)
    return _record_failed(session, row, claimed, reason, now, refused=refused)


def _schedule_retry(
    rt: Runtime,
    session: Session,
    row: RecordRow,
    claimed: ClaimedTouch,
    reason: str,
    now: datetime,
) -> Delivery:
    """Back to `scheduled` after a jittered exponential backoff, capped at MAX_BACKOFF; a retry
    that would land outside the send window waits for its next opening."""
    base = timedelta(seconds=rt.settings.retry_base_seconds)
    delay = retry_delay(claimed.attempts, base=base, cap=MAX_BACKOFF, rng=rt.random)
    due = next_opening(now + delay, claimed.spec.calendar, claimed.zone)
    finished = _finish(
        session,
        row,
        status=TouchStatus.SCHEDULED,
        due_at=due,
        lease_until=None,
        last_error=f"attempt {claimed.attempts}: {reason}",
    )
    if not finished:
        return Delivery(DeliveryOutcome.ALREADY_FINISHED)
    count_on_commit(session, TOUCHES.labels(outcome="retry", sequence=claimed.spec.name))
    return Delivery(DeliveryOutcome.RETRY, f"in {int((due - now).total_seconds())}s: {reason}")


def _record_failed(
    session: Session,
    row: RecordRow,
    claimed: ClaimedTouch,
    reason: str,
    now: datetime,
    *,
    bounced: bool = False,
    refused: bool = False,
) -> Delivery:
    """`failed` for good; any 5xx refusal is a hard bounce to the guardrails (bounced_at)."""
    concluded = _conclude(
        session,
        row,
        claimed,
        ComplianceKind.TOUCH_FAILED,
        now,
        log_detail=reason,
        plan_next=not bounced,  # a bad mailbox ends everything: nothing more to plan
        status=TouchStatus.FAILED,
        last_error=reason,
        detail=reason,
        bounced_at=now if refused else None,
    )
    if not concluded:
        return Delivery(DeliveryOutcome.ALREADY_FINISHED)
    return Delivery(DeliveryOutcome.FAILED, reason)


def _record_bounced(
    session: Session,
    row: RecordRow,
    claimed: ClaimedTouch,
    reason: str,
    now: datetime,
    batch: list[EnrollmentProgress],
    *,
    refused: bool,
) -> Delivery:
    """`failed`, and the address (5.1.x: no such mailbox) suppressed, ending all it is in: the
    ORM exits those enrollments, so the batch's progress is written first and read again after
    (the lead's other enrollments in the batch then carry on from `exited`)."""
    failed = _record_failed(session, row, claimed, reason, now, bounced=True, refused=refused)
    if failed.outcome == DeliveryOutcome.FAILED:
        lead = session.get(Lead, row[2].id)
        assert lead is not None  # the touch's lead: rows are never deleted under a touch
        write_progress(session, batch)
        suppress_lead(session, lead, reason="email.bounced", at=now, now=now)
        reload_progress(session, batch)
    return failed
