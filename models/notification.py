"""What goes out to people and systems about leads: SLA alerts and webhook deliveries (outboxes)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class AlertStatus(StrEnum):
    PENDING = "pending"  # waiting for due_at (now, or the end of the digest hour)
    SENDING = "sending"  # claimed by a notifier until lease_until
    SENT = "sent"
    FAILED = "failed"  # permanently, with the reason
    OBSOLETE = "obsolete"  # an at-risk alert whose lead was no longer at risk when it was due


class SlaAlert(SQLModel, table=True):
    """One alert to one person on one channel; the unique key makes it happen once."""

    __tablename__ = "sla_alert"
    __table_args__ = (
        UniqueConstraint(
            "enrollment_id", "level", "channel", "recipient", name="ux_sla_alert_once"
        ),
        Index("ix_sla_alert_due", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # None for a guardrail pause, which is about a mailbox or a sequence, not one lead
    enrollment_id: int | None = Field(default=None, foreign_key="enrollment.id", index=True)
    level: str = Field(max_length=40)  # at_risk.first_touch, at_risk.touches, breached, reassigned,
    # or paused (a guardrail stopped a mailbox or sequence)
    channel: str = Field(max_length=16)  # email or slack
    recipient: str = Field(max_length=320)  # the person's email address
    lead: str = Field(max_length=320)  # empty for a pause
    sequence: str = Field(max_length=200)  # for a pause: the paused mailbox or sequence
    text: str = Field(max_length=1000)  # one line, written when the alert is raised
    created_at: datetime = Field(sa_type=UTCDateTime)
    due_at: datetime = Field(sa_type=UTCDateTime)
    status: AlertStatus = Field(default=AlertStatus.PENDING, sa_type=String(16))
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempts: int = 0
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=1000)


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    DEAD = "dead"  # gave up (retry_until passed, or the webhook was removed), with the reason


class WebhookDelivery(SQLModel, table=True):
    """One event for one webhook: written with the happening, its body fixed for every retry."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("event_id", "webhook", name="ux_webhook_delivery_once"),
        Index("ix_webhook_delivery_due", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=40)  # the payload's "id" and Followup-Event-Id
    webhook: str = Field(max_length=100)  # the webhook's name in team.yaml
    type: str = Field(max_length=32)
    body: str = Field(sa_type=Text)  # the exact JSON sent (and signed) on every attempt
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    due_at: datetime = Field(sa_type=UTCDateTime)
    retry_until: datetime | None = Field(default=None, sa_type=UTCDateTime)  # from the 1st try
    status: DeliveryStatus = Field(default=DeliveryStatus.PENDING, sa_type=String(16))
    attempts: int = 0
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=1000)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
