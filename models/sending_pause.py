"""A mailbox or a sequence the guardrails paused: its touches are held until it is resumed."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class PauseScope(StrEnum):
    MAILBOX = "mailbox"  # a From address
    SEQUENCE = "sequence"


class SendingPause(SQLModel, table=True):
    """One row per mailbox or sequence ever paused; `resumed_at` NULL while it is paused, and
    the counts after a resume start from it (so the bounces that tripped it count once)."""

    __tablename__ = "sending_pause"

    scope: PauseScope = Field(primary_key=True, sa_type=String(16))
    name: str = Field(primary_key=True, max_length=320)
    paused_at: datetime = Field(sa_type=UTCDateTime)
    reason: str = Field(max_length=500)
    resumed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resumed_by: str | None = Field(default=None, max_length=200)
