"""An email from a claimed touch: its sender, thread, headers and rendered content."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from models.touch import Touch, TouchStatus
from worker.auth.tokens import unsubscribe_url
from worker.engine.runtime import Runtime
from worker.flow.send_slots import SendSlots
from worker.mail import OutgoingEmail, make_message_id
from worker.specs.rendering import RenderError, build_context, reply_subject
from worker.specs.sending import (
    may_send_as,
    no_sender_reason,
    not_allowed_reason,
    owner_context,
    sender_for,
)
from worker.specs.sequences import SequenceSpec, StepSpec

logger = logging.getLogger("followup.delivery")


@dataclass(frozen=True)
class ClaimedTouch:
    """A touch claimed for sending, with what the claim transaction gathered, so rendering and
    sending run outside it."""

    touch_id: int
    lead_context: dict
    lead_email: str
    owner_email: str | None
    spec: SequenceSpec
    step: StepSpec
    template: str  # the step's email, or the touch's variant's
    sender: str | None
    message_id: str
    attempts: int  # this one included
    zone: ZoneInfo  # where the lead's send window is read (a retry keeps to it)
    slots: SendSlots  # the mailbox and domain send slots taken, given back if nothing was sent
    thread_parent: tuple[str, str | None] | None  # (Message-ID, subject) of the first email
    lease_until: datetime  # the claim's lease (worker/flow/late_claims.py)
    log_ids: dict[str, object]  # what every log line about this touch names


@lru_cache(maxsize=1024)  # a handful of senders, parsed three times a touch otherwise
def address_of(sender: str | None) -> str:
    return parseaddr(sender or "")[1].lower()


def _domain(sender: str | None) -> str:
    return address_of(sender).rpartition("@")[2] or "followup.invalid"


def message_id_for(sender: str | None) -> str:
    """A malformed sender must not crash the claim (re-driven forever); the send reports it."""
    try:
        return make_message_id(_domain(sender))
    except ValueError:
        return make_message_id("followup.invalid")


def claimed_sender(rt: Runtime, spec: SequenceSpec, owner: str | None) -> str | None:
    """The From of a touch being claimed (sender_for), saying so when an owner team.yaml does
    not list falls back to FOLLOWUP_DEFAULT_FROM."""
    team, default_from = rt.catalog.team, rt.settings.default_from
    sender = sender_for(spec, owner, team=team, default_from=default_from)
    fell_back = spec.sender == "owner" and default_from  # (else the touch fails with the reason)
    if fell_back and owner and not may_send_as(team, owner):
        logger.warning("%s; sending from FOLLOWUP_DEFAULT_FROM", not_allowed_reason(owner))
    return sender


def thread_parent(
    session: Session, enrollment_id: int, spec: SequenceSpec
) -> tuple[str, str | None] | None:
    """(Message-ID, subject) of the enrollment's first email, once it was sent."""
    first_email = next((s.id for s in spec.steps if s.is_email), None)
    row = session.exec(
        select(Touch.message_id, Touch.subject).where(
            Touch.enrollment_id == enrollment_id,
            Touch.step == first_email,
            Touch.status == TouchStatus.SENT,
        )
    ).first()
    return (row[0], row[1]) if row and row[0] else None


def compose_email(rt: Runtime, claimed: ClaimedTouch) -> OutgoingEmail:
    if not claimed.sender:
        raise RenderError(no_sender_reason(claimed.owner_email))
    unsubscribe = unsubscribe_url(rt.settings.base_url, claimed.lead_email, keys=rt.key_ring)
    context = build_context(
        lead=claimed.lead_context,
        owner=owner_context(rt.catalog.team.owner(claimed.owner_email), claimed.sender),
        sequence=claimed.spec,
        step=claimed.step.id,
        unsubscribe_url=unsubscribe,
    )
    rendered = claimed.spec.renderer.render_email(claimed.template, context)
    subject = rendered.subject
    headers = [
        ("List-Unsubscribe", f"<{unsubscribe}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    ]
    if claimed.thread_parent is not None:
        parent_id, parent_subject = claimed.thread_parent
        headers += [("In-Reply-To", parent_id), ("References", parent_id)]
        if parent_subject:  # mail clients group a conversation by subject too (SPEC section 5)
            subject = reply_subject(parent_subject)
    if not subject:
        raise RenderError(f"{claimed.template}: no subject, and no sent first email to reply to")
    return OutgoingEmail(
        sender=claimed.sender,
        to=claimed.lead_email,
        subject=subject,
        text=rendered.text,
        html=rendered.html,
        message_id=claimed.message_id,
        headers=tuple(headers),
    )
