"""Per-mailbox, per-local-day send counters: the ledger behind `daily_limit` and `min_gap`."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class MailboxDay(SQLModel, table=True):
    __tablename__ = "mailbox_day"

    address: str = Field(primary_key=True, max_length=320)
    day: str = Field(primary_key=True, max_length=10)  # YYYY-MM-DD in the mailbox's zone
    used: int = 0
    last_sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
