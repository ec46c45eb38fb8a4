"""What came back about a sent email, noted on the touch it answers: a reply (A/B variants are
judged by them), a hard bounce or a complaint (the guardrails count them)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from models.lead import Lead
from models.touch import Touch, TouchKind, TouchStatus

# Event type -> the touch column it sets.
RESPONSES = {
    "email.replied": "replied_at",
    "email.bounced": "bounced_at",
    "email.complained": "complained_at",
}


def note_response(session: Session, lead: Lead, event_type: str, *, at: datetime) -> Touch | None:
    """Set the column on the last email the lead was sent before `at` (the one a reply answers
    when the thread does not say otherwise); the first answer of each kind counts."""
    column = RESPONSES.get(event_type)
    if column is None or lead.id is None:
        return None
    touch = session.exec(
        select(Touch)
        .where(
            Touch.lead_id == lead.id,
            Touch.kind == TouchKind.EMAIL,
            Touch.status == TouchStatus.SENT,
            col(Touch.completed_at) <= at,
        )
        .order_by(col(Touch.completed_at).desc(), col(Touch.id).desc())
        .limit(1)
    ).first()
    if touch is None or getattr(touch, column) is not None:
        return None
    setattr(touch, column, at)
    session.add(touch)
    return touch
