"""What came back: a row per inbound message or provider event; each watched mailbox's cursor."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class InboundOutcome(StrEnum):
    REPLY = "reply"  # a person answered -> email.replied
    AUTO_REPLY = "auto_reply"  # out of office -> email.auto_replied (touches held)
    AUTO_REPLY_PERMANENT = "auto_reply_permanent"  # "no longer with the company": suppressed
    BOUNCE = "bounce"  # DSN 5.x.x -> email.bounced, suppressed
    BOUNCE_TEMPORARY = "bounce_temporary"  # DSN 4.x.x / delayed: only recorded
    COMPLAINT = "complaint"  # ARF feedback report -> email.complained, suppressed
    UNSUBSCRIBE = "unsubscribe"  # a reply asking to stop -> lead.unsubscribed
    DELIVERED = "delivered"  # a provider's delivery event: only recorded
    UNMATCHED = "unmatched"  # no touch or lead it belongs to: left alone, counted
    IGNORED = "ignored"  # our own mail, a copy of what we sent, a repeat: left alone


class InboundMessage(SQLModel, table=True):
    """Keyed by (mailbox, uidvalidity, uid): the same message read twice is one row."""

    __tablename__ = "inbound_message"
    __table_args__ = (
        UniqueConstraint("mailbox", "uidvalidity", "uid", name="ux_inbound_message_position"),
        Index("ix_inbound_outcome_at", "outcome", "received_at"),
        # deliverability counts (bounces, complaints) per sending mailbox and per sequence
        Index("ix_inbound_sender_outcome", "sending_mailbox", "outcome", "received_at"),
        Index("ix_inbound_sequence_outcome", "sequence", "outcome", "received_at"),
        Index("ix_inbound_mailbox_outcome", "mailbox", "outcome"),
    )

    id: int | None = Field(default=None, primary_key=True)
    mailbox: str = Field(max_length=320)  # the watched mailbox, or the provider of a webhook
    uidvalidity: int = Field(default=0, sa_type=BigInteger)  # IMAP's are unsigned 32-bit
    uid: str = Field(max_length=255)
    key: str = Field(max_length=255, index=True)  # Message-ID, else a content hash / event id
    received_at: datetime = Field(sa_type=UTCDateTime)
    arrived_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    outcome: InboundOutcome = Field(sa_type=String(24))
    rule: str = Field(max_length=500)  # the header or rule that decided the outcome
    sender: str | None = Field(default=None, max_length=320)
    subject: str | None = Field(default=None, max_length=500)
    lead_email: str | None = Field(default=None, max_length=320, index=True)
    touch_id: int | None = Field(default=None, index=True)
    enrollment_id: int | None = Field(default=None, index=True)
    sequence: str | None = Field(default=None, max_length=200)
    step: str | None = Field(default=None, max_length=100)
    sending_mailbox: str | None = Field(default=None, max_length=320)  # the touch's From address
    event_id: int | None = Field(default=None)
    hold_until: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MailboxCursor(SQLModel, table=True):
    """Where the watcher is in each mailbox, and how its last fetch went (for `status`)."""

    __tablename__ = "mailbox_cursor"

    mailbox: str = Field(primary_key=True, max_length=320)
    uidvalidity: int = Field(default=0, sa_type=BigInteger)
    last_uid: int = Field(default=0, sa_type=BigInteger)
    last_fetch_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_success_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=500)
    errors: int = 0  # consecutive failed fetches
