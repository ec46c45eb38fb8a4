"""Lead events as received (append-only inbox) and their input schema."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ConfigDict, Field, field_validator
from sqlmodel import JSON, Column, SQLModel
from sqlmodel import Field as SQLField

from models.lead import LeadIn
from models.types import UTCDateTime
from models.validation import EVENT_TYPE_PATTERN, Storable

EARLIEST_EVENT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_EVENT = datetime(2100, 1, 1, tzinfo=UTC)


class EventIn(Storable):
    """SPEC section 7: a lead event; `id` is the idempotency key."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    type: str = Field(max_length=100, pattern=EVENT_TYPE_PATTERN)
    lead: LeadIn
    occurred_at: datetime | None = None
    id: str | None = Field(default=None, min_length=1, max_length=200)
    step: str | None = Field(default=None, max_length=100)
    sequence: str | None = Field(default=None, max_length=200)
    detail: str | None = Field(default=None, max_length=2000)
    until: datetime | None = None  # email.auto_replied: hold the touches until then

    @field_validator("occurred_at", "until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        """Aware, and a time UTC can hold: year 1 at +05:00 would overflow on the way in."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("needs a time zone (e.g. a trailing Z)")
        try:
            utc = value.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValueError("is out of range once converted to UTC") from None
        if not EARLIEST_EVENT <= utc < LATEST_EVENT:
            raise ValueError("must be between 1970-01-01 and 2100-01-01 (UTC)")
        return value


class Event(SQLModel, table=True):
    id: int | None = SQLField(default=None, primary_key=True)
    key: str | None = SQLField(default=None, max_length=200, unique=True)
    type: str = SQLField(max_length=100, index=True)
    lead_email: str = SQLField(max_length=320, index=True)
    payload: dict[str, Any] = SQLField(default_factory=dict, sa_column=Column(JSON, nullable=False))
    occurred_at: datetime = SQLField(sa_type=UTCDateTime)
    received_at: datetime = SQLField(sa_type=UTCDateTime)
    processed_at: datetime | None = SQLField(default=None, sa_type=UTCDateTime, index=True)
    failures: int = 0  # times applying it raised (each rolled back on its own)
    last_error: str | None = SQLField(default=None, max_length=1000)  # the latest such error
    dead_at: datetime | None = SQLField(default=None, sa_type=UTCDateTime)  # given up: see error
