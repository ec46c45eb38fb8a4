"""The sending part of `followup status` and `followup mailboxes list`: each mailbox's cap today
(the ramp's, or its limit) and what it has used, each recipient-domain throttle's count, and
what the guardrails count and have paused."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import parseaddr

from sqlmodel import Session

from models.mailbox import DomainDay, MailboxDay, SendCounter
from models.sending_pause import PauseScope
from worker.flow.guardrails import current_pauses, window_counts
from worker.flow.mailbox_limits import cap_today, first_day, mailbox_day
from worker.specs.sequences import SequenceSpec
from worker.specs.team import OwnerSpec, TeamSpec
from worker.specs.throttles import hour_of


@dataclass
class SendingState:
    address: str
    cap_today: int | None  # the smaller of the ramp and daily_limit; None: no daily cap
    daily_limit: int | None
    sent_today: int
    hourly_limit: int | None
    sent_this_hour: int
    ramp_day: int | None = None  # 1 on the ramp's first day; None without a ramp


@dataclass
class ThrottleState:
    domains: list[str]
    hourly_limit: int | None
    sent_this_hour: int
    daily_limit: int | None
    sent_today: int


def sending_states(session: Session, team: TeamSpec, *, now: datetime) -> list[SendingState]:
    """Every owner whose sends are counted, in team.yaml's order."""
    return [_mailbox(session, owner, now) for owner in team.owners if owner.limited]


def _mailbox(session: Session, owner: OwnerSpec, now: datetime) -> SendingState:
    day = mailbox_day(owner, now)
    row = session.get(MailboxDay, (owner.email, day))
    ramp_day = None
    if owner.ramp is not None:
        start = first_day(session, owner.email, owner, now)
        ramp_day = max((date.fromisoformat(day) - start).days, 0) + 1
    return SendingState(
        address=owner.email,
        cap_today=cap_today(session, owner.email, owner, now),
        daily_limit=owner.daily_limit,
        sent_today=row.used if row else 0,
        hourly_limit=owner.hourly_limit,
        sent_this_hour=_this_hour(row, now),
        ramp_day=ramp_day,
    )


def throttle_states(session: Session, team: TeamSpec, *, now: datetime) -> list[ThrottleState]:
    day = now.astimezone(UTC).date().isoformat()
    states = []
    for throttle in team.throttles:
        row = session.get(DomainDay, (throttle.key, day))
        states.append(
            ThrottleState(
                domains=list(throttle.domain),
                hourly_limit=throttle.hourly_limit,
                sent_this_hour=_this_hour(row, now),
                daily_limit=throttle.daily_limit,
                sent_today=row.used if row else 0,
            )
        )
    return states


def _this_hour(row: SendCounter | None, now: datetime) -> int:
    return row.hour_used if row is not None and row.hour_start == hour_of(now) else 0


@dataclass
class GuardState:
    """A mailbox's or sequence's guardrail figures over the window, and its pause if paused."""

    scope: str
    name: str
    sends: int
    bounces: int
    complaints: int
    since: datetime
    paused_at: datetime | None = None
    reason: str | None = None


def guard_states(
    session: Session, team: TeamSpec, sequences: list[SequenceSpec], *, now: datetime
) -> list[GuardState]:
    """Every sending mailbox (owners, sequences' own From, anything paused) and every paused
    sequence, with what the guardrails count for it now."""
    pauses = {(p.scope, p.name): p for p in current_pauses(session)}
    mailboxes = [owner.email for owner in team.owners]
    mailboxes += [parseaddr(s.sender)[1].lower() for s in sequences if s.sender != "owner"]
    names = [(PauseScope.MAILBOX, m) for m in dict.fromkeys(mailboxes)]
    names += [key for key in pauses if key not in names]
    since = now - team.guardrails.span
    states = []
    for scope, name in names:
        pause = pauses.get((scope, name))
        counts = window_counts(session, scope, name, since=since)
        states.append(
            GuardState(
                scope=str(scope),
                name=name,
                sends=counts.sends,
                bounces=counts.bounces,
                complaints=counts.complaints,
                since=since,
                paused_at=pause.paused_at if pause else None,
                reason=pause.reason if pause else None,
            )
        )
    return states


@dataclass
class PausedSending:
    scope: str
    name: str
    paused_at: datetime
    reason: str


def paused_sending(session: Session) -> list[PausedSending]:
    """What the guardrails hold now, for `followup status`."""
    return [
        PausedSending(str(p.scope), p.name, p.paused_at, p.reason) for p in current_pauses(session)
    ]
