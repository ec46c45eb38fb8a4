"""Which touch an inbound message answers: our Message-IDs first, then a known lead's address."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from models.enrollment import Enrollment
from models.lead import Lead
from models.touch import Touch, TouchStatus
from worker.inbox.classify import Classification
from worker.inbox.parsing import ParsedMessage


@dataclass(frozen=True)
class Match:
    lead: Lead
    touch: Touch | None
    enrollment: Enrollment | None
    by: str  # which evidence tied the message to the touch


@dataclass(frozen=True)
class NoMatch:
    reason: str


def is_copy_of_ours(session: Session, parsed: ParsedMessage) -> bool:
    """A message carrying a Message-ID we generated is one we sent (a Bcc, a Sent folder)."""
    if parsed.message_id is None:
        return False
    found = session.exec(select(Touch.id).where(Touch.message_id == parsed.message_id)).first()
    return found is not None


def match(session: Session, parsed: ParsedMessage, found: Classification) -> Match | NoMatch:
    """Reports match the message they return (and must name its lead); replies their thread."""
    if found.is_report:
        return match_report(session, found)
    for header, ids in (
        ("In-Reply-To", parsed.in_reply_to),
        ("References", parsed.references[::-1]),
    ):
        for message_id in ids:
            touch = _touch_by_message_id(session, message_id)
            if touch is not None:
                return _with_touch(session, touch, f"{header} {message_id}")
    if found.address is None:
        return NoMatch("no Message-ID of ours and no sender address")
    return _by_address(session, found.address, "sender address")


def match_report(session: Session, found: Classification) -> Match | NoMatch:
    if found.returned_message_id is not None:
        touch = _touch_by_message_id(session, found.returned_message_id)
        if touch is not None:
            matched = _with_touch(
                session, touch, f"returned Message-ID {found.returned_message_id}"
            )
            if found.address is not None and found.address != matched.lead.email:
                return NoMatch(
                    f"the report names {found.address}, but the message it returns went to "
                    f"{matched.lead.email}"
                )
            return matched
    if found.address is None:
        return NoMatch("the report names no recipient and returns no message of ours")
    return _by_address(session, found.address, "recipient address in the report")


def _by_address(session: Session, address: str, by: str) -> Match | NoMatch:
    """A lead we have mailed: its latest sent touch (a lead never mailed is not ours to stop)."""
    lead = session.exec(select(Lead).where(Lead.email == address)).first()
    if lead is None:
        return NoMatch(f"{address} is not a lead")
    touch = session.exec(
        select(Touch)
        .where(Touch.lead_id == lead.id, Touch.status == TouchStatus.SENT)
        .order_by(col(Touch.completed_at).desc(), col(Touch.id).desc())
    ).first()
    if touch is None:
        return NoMatch(f"{address} is a lead we never mailed")
    return _with_touch(session, touch, by)


def _touch_by_message_id(session: Session, message_id: str) -> Touch | None:
    return session.exec(select(Touch).where(Touch.message_id == message_id)).first()


def _with_touch(session: Session, touch: Touch, by: str) -> Match:
    lead = session.get(Lead, touch.lead_id)
    assert lead is not None  # a foreign key
    enrollment = session.get(Enrollment, touch.enrollment_id) if touch.enrollment_id else None
    return Match(lead=lead, touch=touch, enrollment=enrollment, by=by)
