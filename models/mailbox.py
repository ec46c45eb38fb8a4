"""Send ledgers: per-mailbox and per-recipient-domain counters for each day, the rows behind
`daily_limit`, `hourly_limit`, `min_gap`, `ramp` and `throttles`."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class SendCounter(SQLModel):
    """What every ledger row counts: sends today, sends in the current clock hour, the last."""

    used: int = 0
    hour_start: datetime | None = Field(default=None, sa_type=UTCDateTime)  # UTC clock hour
    hour_used: int = 0  # sends within hour_start's hour
    last_sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MailboxDay(SendCounter, table=True):
    __tablename__ = "mailbox_day"

    address: str = Field(primary_key=True, max_length=320)
    day: str = Field(primary_key=True, max_length=10)  # YYYY-MM-DD in the mailbox's zone


class DomainDay(SendCounter, table=True):
    """Sends to one throttled recipient domain (or group) from every mailbox together."""

    __tablename__ = "domain_day"

    domain: str = Field(primary_key=True, max_length=253)  # the throttle's first domain
    day: str = Field(primary_key=True, max_length=10)  # YYYY-MM-DD in UTC
