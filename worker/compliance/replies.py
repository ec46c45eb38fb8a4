"""Reply facts for the report: replies and reply rate per sequence and step; auto-replies,
bounces and complaints per sequence and per sending mailbox (SQL aggregates over the inbox)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from email.utils import parseaddr
from typing import Any

from sqlalchemy import and_, func, select, union
from sqlmodel import Session, col

from models.enrollment import Enrollment
from models.inbound import InboundMessage
from models.inbound import InboundOutcome as Outcome
from models.touch import Touch, sent_email

COUNTED = {
    "replies": Outcome.REPLY,
    "auto_replies": Outcome.AUTO_REPLY,
    "left": Outcome.AUTO_REPLY_PERMANENT,
    "bounces": Outcome.BOUNCE,
    "complaints": Outcome.COMPLAINT,
    "unsubscribes": Outcome.UNSUBSCRIBE,
}


@dataclass
class ReplyRow:
    key: str
    emailed: int = 0  # enrollments mailed (per sequence) or emails sent (per step, mailbox)
    replies: int = 0  # enrollments that replied (per sequence) or replies to that step's email
    auto_replies: int = 0
    left: int = 0  # "no longer with the company"
    bounces: int = 0
    complaints: int = 0
    unsubscribes: int = 0
    reply_rate: float | None = None


@dataclass
class ReplyFacts:
    by_sequence: list[ReplyRow] = field(default_factory=list)
    by_step: list[ReplyRow] = field(default_factory=list)
    by_mailbox: list[ReplyRow] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            name: [asdict(r) for r in getattr(self, name)]
            for name in ("by_sequence", "by_step", "by_mailbox")
        }

    @property
    def empty(self) -> bool:
        return not (self.by_sequence or self.by_mailbox)


def reply_facts(session: Session, *, since: datetime | None, until: datetime | None) -> ReplyFacts:
    """Emails sent and inbound outcomes within [since, until): counted per group in SQL."""
    received = _window(col(InboundMessage.received_at), since, until)
    emailed = and_(sent_email(), *_window(col(Touch.completed_at), since, until))
    sent = _sent_per_step_and_sender(session, emailed)
    return ReplyFacts(
        by_sequence=_by_sequence(session, emailed, received, since, until),
        by_step=_by_step(session, sent, received),
        by_mailbox=_by_mailbox(session, sent, received),
    )


def _sent_per_step_and_sender(session: Session, emailed: Any) -> list[Any]:
    """(sequence, step, sender, emails) for the emails sent: one pass for steps and mailboxes.

    The touch carries its enrollment's sequence (NULL without one), so this reads one index
    alone, in GROUP BY order, with no join: the covering ix_touch_sent on SQLite (no sort), the
    partial ix_touch_sent_email on PostgreSQL."""
    per = (col(Touch.sequence), col(Touch.step), col(Touch.sender))
    return list(session.execute(select(*per, func.count()).where(emailed).group_by(*per)).all())


def _by_sequence(
    session: Session,
    emailed: Any,
    received: list[Any],
    since: datetime | None,
    until: datetime | None,
) -> list[ReplyRow]:
    """Per sequence, enrollments: mailed, and replied (heard by the inbox or posted as an event)."""
    if since is None and until is None:  # all time: the enrollment's own counters say it
        mailed_ever = col(Enrollment.touches_completed) > col(Enrollment.touches_manual)
    else:  # a semi-join: one index probe an enrollment, no DISTINCT sort
        any_email = select(col(Touch.id)).where(col(Touch.enrollment_id) == Enrollment.id, emailed)
        mailed_ever = any_email.exists()
    mailed = session.execute(
        select(col(Enrollment.sequence), func.count())
        .where(mailed_ever)
        .group_by(col(Enrollment.sequence))
    ).all()
    rows = _rows(mailed, _outcomes(session, col(InboundMessage.sequence), received, distinct=True))
    heard = select(col(InboundMessage.enrollment_id)).where(
        col(InboundMessage.outcome) == Outcome.REPLY, *received
    )
    posted = select(col(Enrollment.id)).where(
        col(Enrollment.exit_reason) == "email.replied",
        *_window(col(Enrollment.ended_at), since, until),
    )
    replied = dict(  # the ids first: two index seeks, not a scan of every enrollment
        session.execute(
            select(col(Enrollment.sequence), func.count())
            .where(col(Enrollment.id).in_(union(posted, heard)))
            .group_by(col(Enrollment.sequence))
        ).all()
    )
    for row in rows:
        row.replies = int(replied.get(row.key, row.replies))
        row.reply_rate = round(row.replies / row.emailed, 3) if row.emailed else None
    return rows


def _by_step(session: Session, sent: list[Any], received: list[Any]) -> list[ReplyRow]:
    """Per step, emails sent and the replies that answer that step's email (thread matched)."""
    steps: dict[str, int] = defaultdict(int)
    for sequence, step, _, n in sent:
        if sequence is not None:
            steps[f"{sequence} / {step}"] += int(n)
    step_key = col(InboundMessage.sequence) + " / " + col(InboundMessage.step)
    return _rows(list(steps.items()), _outcomes(session, step_key, received, distinct=False))


def _by_mailbox(session: Session, sent: list[Any], received: list[Any]) -> list[ReplyRow]:
    """Per sending mailbox (the From address), emails sent and what came back about them."""
    by_address: dict[str, int] = defaultdict(int)
    for _, _, sender, n in sent:
        by_address[parseaddr(sender or "")[1].lower() or "-"] += int(n)
    mailbox_key = col(InboundMessage.sending_mailbox)
    return _rows(
        list(by_address.items()), _outcomes(session, mailbox_key, received, distinct=False)
    )


def _window(column: Any, since: datetime | None, until: datetime | None) -> list[Any]:
    return [
        c
        for c in (column >= since if since else None, column < until if until else None)
        if c is not None
    ]


def _outcomes(
    session: Session, key: Any, where: list[Any], *, distinct: bool
) -> dict[str, dict[str, int]]:
    """Per group and outcome: messages, or (distinct) enrollments, so two replies count once."""
    counted = (
        func.count(func.distinct(col(InboundMessage.enrollment_id))) if distinct else func.count()
    )
    rows = session.execute(
        select(key.label("key"), col(InboundMessage.outcome), counted)
        .where(key.is_not(None), col(InboundMessage.outcome).in_(COUNTED.values()), *where)
        .group_by(key, col(InboundMessage.outcome))
    ).all()
    found: dict[str, dict[str, int]] = defaultdict(dict)
    for group, outcome, n in rows:
        found[str(group)][str(outcome)] = int(n)
    return found


def _rows(emailed: Any, outcomes: dict[str, dict[str, int]]) -> list[ReplyRow]:
    sent = {str(key): int(n) for key, n in emailed}
    rows = []
    for key in sorted(set(sent) | set(outcomes)):
        row = ReplyRow(key=key, emailed=sent.get(key, 0))
        for name, outcome in COUNTED.items():
            setattr(row, name, outcomes.get(key, {}).get(str(outcome), 0))
        row.reply_rate = round(row.replies / row.emailed, 3) if row.emailed else None
        rows.append(row)
    return rows
