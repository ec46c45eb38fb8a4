"""The append-only compliance log: one row per thing that happened to a lead's SLA."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
from sqlmodel import Column, Field, SQLModel

from models.types import UTCDateTime


class ComplianceKind(StrEnum):
    ENROLLMENT_STARTED = "enrollment.started"
    TOUCH_SENT = "touch.sent"
    TOUCH_FAILED = "touch.failed"
    TOUCH_SKIPPED = "touch.skipped"
    TASK_COMPLETED = "task.completed"
    TOUCH_LOGGED = "touch.logged"
    ENROLLMENT_EXITED = "enrollment.exited"
    SLA_MET = "sla.met"
    SLA_BREACHED = "sla.breached"
    SLA_AT_RISK = "sla.at_risk"
    LEAD_REASSIGNED = "lead.reassigned"
    ALERT_SENT = "alert.sent"
    ENROLLMENT_HELD = "enrollment.held"  # an auto-reply holds the touches until a date
    ENROLLMENT_RESUMED = "enrollment.resumed"  # ... and the hold ended
    INBOX_REPLY = "inbox.reply"
    INBOX_AUTO_REPLY = "inbox.auto_reply"
    INBOX_AUTO_REPLY_PERMANENT = "inbox.auto_reply_permanent"
    INBOX_BOUNCE = "inbox.bounce"
    INBOX_BOUNCE_TEMPORARY = "inbox.bounce_temporary"
    INBOX_COMPLAINT = "inbox.complaint"
    INBOX_UNSUBSCRIBE = "inbox.unsubscribe"
    INBOX_DELIVERED = "inbox.delivered"
    INBOX_UNMATCHED = "inbox.unmatched"
    INBOX_IGNORED = "inbox.ignored"


class ComplianceEntry(SQLModel, table=True):
    __tablename__ = "compliance_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    kind: ComplianceKind = Field(sa_type=String(32), index=True)
    # stored as `lead`, the compliance log's name for it in SPEC section 11 (JSON and CSV too)
    lead_email: str = Field(sa_column=Column("lead", String(320), index=True, nullable=False))
    owner: str | None = Field(default=None, max_length=320, index=True)
    sequence: str | None = Field(default=None, max_length=200, index=True)
    step: str | None = Field(default=None, max_length=100)
    enrollment_id: int | None = Field(default=None, index=True)
    touch_id: int | None = None
    detail: str | None = Field(default=None, max_length=1000)
