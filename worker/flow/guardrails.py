"""Bounce and complaint guardrails: a mailbox or a sequence whose hard bounces or complaints pass
their share of its recent sends is paused (its touches held, never lost) until resumed."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from models.enrollment import Enrollment, EnrollmentStatus
from models.sending_pause import PauseScope, SendingPause
from models.touch import Touch, TouchStatus
from worker.engine.db import changed_rows
from worker.engine.tunables import GUARDRAIL_RECOUNT
from worker.notify.outbox import publish
from worker.specs.guardrails import GuardrailSpec

logger = logging.getLogger("followup.guardrails")


@dataclass(frozen=True)
class WindowCounts:
    """What a mailbox or sequence sent and heard back since `since`."""

    since: datetime
    sends: int
    bounces: int
    complaints: int


# Each a count of its partial index alone (only answered touches are in it), not of the table.
ANSWERS_SEEN = select(
    select(func.count()).where(col(Touch.bounced_at).is_not(None)).scalar_subquery(),
    select(func.count()).where(col(Touch.complained_at).is_not(None)).scalar_subquery(),
)


class GuardrailWatch:
    """When the long-running scheduler loop counts again: as soon as a new bounce or complaint
    is noted, else every GUARDRAIL_RECOUNT (sends growing past min_sends, or old ones leaving
    the window, change a verdict slowly), so a busy database is not recounted every tick."""

    def __init__(self) -> None:
        self._seen: tuple[int, int] | None = None
        self._counted_at: datetime | None = None

    def due(self, session: Session, *, now: datetime) -> bool:
        seen = session.execute(ANSWERS_SEEN).one()
        answers = (int(seen[0]), int(seen[1]))
        stale = self._counted_at is None or now - self._counted_at >= GUARDRAIL_RECOUNT
        if answers == self._seen and not stale:
            return False
        self._seen, self._counted_at = answers, now
        return True


def scope_of(name: str) -> PauseScope:
    """A name with an @ is a mailbox (a From address); anything else a sequence name."""
    return PauseScope.MAILBOX if "@" in name else PauseScope.SEQUENCE


def check_guardrails(session: Session, rule: GuardrailSpec, *, now: datetime) -> list[SendingPause]:
    """Pause every mailbox and sequence whose recent answers pass the rule; the new pauses.
    Only those with a bounce or complaint in the window are counted (an indexed look-up)."""
    if not rule.enabled:
        return []
    since = now - rule.span
    answered = session.execute(
        select(col(Touch.sender), col(Enrollment.sequence))
        .join(Enrollment, col(Enrollment.id) == Touch.enrollment_id)
        .where(or_(col(Touch.bounced_at) >= since, col(Touch.complained_at) >= since))
    ).all()
    candidates: set[tuple[PauseScope, str]] = set()
    for sender, sequence in answered:
        candidates |= {(PauseScope.MAILBOX, _address(sender)), (PauseScope.SEQUENCE, sequence)}
    known = {(p.scope, p.name): p for p in session.exec(select(SendingPause)).all()}
    tripped = []
    for scope, name in sorted(candidates):
        earlier = known.get((scope, name))
        if earlier is not None and earlier.resumed_at is None:
            continue  # paused already
        start = max(since, earlier.resumed_at) if earlier and earlier.resumed_at else since
        counts = window_counts(session, scope, name, since=start)
        reason = rule.verdict(
            sends=counts.sends, bounces=counts.bounces, complaints=counts.complaints
        )
        if reason is not None and _pause(session, scope, name, reason, now):
            tripped.append(SendingPause(scope=scope, name=name, paused_at=now, reason=reason))
    return tripped


def window_counts(
    session: Session, scope: PauseScope, name: str, *, since: datetime
) -> WindowCounts:
    """Sends (accepted, or refused with a 5xx) and hard bounces and complaints after `since`
    (strictly: what happened at the instant of a resume was before it)."""
    sent = and_(col(Touch.status) == TouchStatus.SENT, col(Touch.completed_at) > since)
    refused = and_(col(Touch.status) == TouchStatus.FAILED, col(Touch.bounced_at) > since)
    query = select(
        func.count().filter(or_(sent, refused)),
        func.count().filter(col(Touch.bounced_at) > since),
        func.count().filter(col(Touch.complained_at) > since),
    ).select_from(Touch)
    if scope == PauseScope.SEQUENCE:
        query = query.join(Enrollment, col(Enrollment.id) == Touch.enrollment_id).where(
            col(Enrollment.sequence) == name
        )
    else:
        query = query.where(from_mailbox(name))
    sends, bounces, complaints = session.execute(query).one()
    return WindowCounts(since, int(sends), int(bounces), int(complaints))


def from_mailbox(address: str) -> ColumnElement[bool]:
    """touch.sender is `addr` or `Name <addr>`: match the address in either form."""
    sender = func.lower(col(Touch.sender))
    return or_(sender == address, sender.endswith(f"<{address}>", autoescape=True))


def _pause(session: Session, scope: PauseScope, name: str, reason: str, now: datetime) -> bool:
    """Insert or re-arm the pause (compare-and-set: one scheduler wins); logged once."""
    reason = reason[:500]
    if session.get(SendingPause, (scope, name)) is None:
        try:
            with session.begin_nested():
                session.add(SendingPause(scope=scope, name=name, paused_at=now, reason=reason))
            won = True
        except IntegrityError:
            won = False  # another scheduler paused it in the same instant
    else:
        won = (
            changed_rows(
                session,
                update(SendingPause)
                .where(
                    col(SendingPause.scope) == scope,
                    col(SendingPause.name) == name,
                    col(SendingPause.resumed_at).is_not(None),
                )
                .values(paused_at=now, reason=reason, resumed_at=None, resumed_by=None),
            )
            == 1
        )
    if won:
        logger.warning(
            "guardrail paused %s %s: %s; its touches are held until `followup mailboxes resume %s`",
            scope,
            name,
            reason,
            name,
        )
    return won


def paused_now(session: Session) -> set[tuple[str, str]]:
    """(scope, name) of every pause in force: what each delivery's claim checks, one Core read
    (the ORM read of current_pauses was ~4% of a send's CPU, issue 15)."""
    pauses = SendingPause.__table__.c  # type: ignore[attr-defined]  # SQLModel sets it
    read = sa_select(pauses.scope, pauses.name).where(pauses.resumed_at.is_(None))
    return {(str(scope), name) for scope, name in session.connection().execute(read)}


def current_pauses(session: Session) -> list[SendingPause]:
    return list(
        session.exec(
            select(SendingPause)
            .where(col(SendingPause.resumed_at).is_(None))
            .order_by(col(SendingPause.paused_at))
        ).all()
    )


def resume_sending(session: Session, name: str, *, now: datetime, by: str = "cli") -> int | None:
    """Resume a paused mailbox or sequence and release its held touches (each due when it was,
    or now); None when nothing by that name is paused. Counting starts again from now."""
    scope = scope_of(name)
    key = name.strip().lower() if scope == PauseScope.MAILBOX else name.strip()
    resumed = changed_rows(
        session,
        update(SendingPause)
        .where(
            col(SendingPause.scope) == scope,
            col(SendingPause.name) == key,
            col(SendingPause.resumed_at).is_(None),
        )
        .values(resumed_at=now, resumed_by=by),
    )
    if resumed != 1:
        return None
    released = _release_held(session, scope, key, now)
    logger.info("resumed %s %s: %d held touch(es) released", scope, key, released)
    publish(
        session,
        "sending.resumed",
        occurred_at=now,
        data={"scope": str(scope), "name": key, "released": released, "by": by},
    )
    return released


def _release_held(session: Session, scope: PauseScope, key: str, now: datetime) -> int:
    """The touches the pause held go back to the schedule, each due when it was, or now."""
    held = (
        select(col(Touch.id))
        .join(Enrollment, col(Enrollment.id) == Touch.enrollment_id)
        .where(
            col(Touch.status) == TouchStatus.HELD,
            col(Enrollment.status) == EnrollmentStatus.ACTIVE,  # a paused enrollment stays held
            or_(col(Enrollment.held_until).is_(None), col(Enrollment.held_until) <= now),
            col(Enrollment.sequence) == key if scope == PauseScope.SEQUENCE else from_mailbox(key),
        )
    )
    return changed_rows(
        session,
        update(Touch)
        .where(col(Touch.id).in_(held.scalar_subquery()), col(Touch.status) == TouchStatus.HELD)
        .values(
            status=TouchStatus.SCHEDULED,
            due_at=case((col(Touch.due_at) < now, now), else_=col(Touch.due_at)),
            detail=None,
        ),
    )


def pause_summary(pauses: list[SendingPause]) -> dict[str, list[str]]:
    """Paused names by scope, for one-line messages."""
    found: dict[str, list[str]] = defaultdict(list)
    for pause in pauses:
        found[str(pause.scope)].append(pause.name)
    return dict(found)


def _address(sender: str | None) -> str:
    from email.utils import parseaddr

    return parseaddr(sender or "")[1].lower()
