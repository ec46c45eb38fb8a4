"""What `followup status` says about each watched mailbox: last fetch, lag, outcomes, errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, func, select

from models.inbound import InboundMessage, MailboxCursor


@dataclass
class MailboxState:
    mailbox: str
    watched: bool = False  # False: a provider's webhook events
    last_fetch_at: str | None = None
    lag_seconds: float | None = None  # since the last fetch that worked
    outcomes: dict[str, int] = field(default_factory=dict)
    errors: int = 0  # consecutive failed fetches
    last_error: str | None = None


def mailbox_states(session: Session, *, watched: list[str], now: datetime) -> list[MailboxState]:
    """The watched mailboxes first, then any other source with messages (provider webhooks)."""
    states = {name: MailboxState(mailbox=name, watched=True) for name in watched}
    counts = session.exec(
        select(InboundMessage.mailbox, InboundMessage.outcome, func.count()).group_by(
            col(InboundMessage.mailbox), col(InboundMessage.outcome)
        )
    ).all()
    for mailbox, outcome, n in counts:
        states.setdefault(mailbox, MailboxState(mailbox=mailbox)).outcomes[str(outcome)] = int(n)
    for cursor in session.exec(select(MailboxCursor).where(col(MailboxCursor.mailbox).in_(states))):
        state = states[cursor.mailbox]
        state.last_fetch_at = cursor.last_fetch_at.isoformat() if cursor.last_fetch_at else None
        if cursor.last_success_at is not None:
            lag = (now - cursor.last_success_at).total_seconds()
            state.lag_seconds = round(max(lag, 0.0), 1)  # clocks of two machines may differ
        state.errors, state.last_error = cursor.errors, cursor.last_error
    return list(states.values())
