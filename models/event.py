"""Lead events as received (append-only inbox) and their input schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field, field_validator
from sqlmodel import JSON, Column, SQLModel
from sqlmodel import Field as SQLField

from models.lead import LeadIn
from models.types import UTCDateTime
from models.validation import EVENT_TYPE_PATTERN, Storable


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
        if value is not None and value.tzinfo is None:
            raise ValueError("needs a time zone (e.g. a trailing Z)")
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
