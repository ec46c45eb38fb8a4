"""Lead events as received (append-only inbox) and their input schema."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ConfigDict, Field, field_validator
from sqlmodel import JSON, Column, SQLModel
from sqlmodel import Field as SQLField

from models.types import UTCDateTime
from models.validation import (
    EVENT_TYPE_PATTERN,
    Storable,
    check_fields,
    normalise_email,
    normalise_timezone,
)

EARLIEST_EVENT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_EVENT = datetime(2100, 1, 1, tzinfo=UTC)


class LeadIn(Storable):
    """A lead as sent by a CRM, form or CSV row; missing fields leave stored values alone."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: str = Field(max_length=320)
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    owner: str | None = Field(default=None, max_length=320)
    timezone: str | None = Field(default=None, max_length=64)
    fields: dict[str, Any] = Field(default_factory=dict)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalise_email(value)

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: str | None) -> str | None:
        return normalise_email(value) if value else None

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return normalise_timezone(value) if value else None

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if not key.isidentifier():
                raise ValueError(f"custom field name {key!r} must be a valid identifier")
        check_fields(value)
        return value


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

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        """Aware, and a time UTC can hold: year 1 at +05:00 would overflow on the way in."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("occurred_at needs a time zone (e.g. a trailing Z)")
        try:
            utc = value.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValueError("occurred_at is out of range once converted to UTC") from None
        if not EARLIEST_EVENT <= utc < LATEST_EVENT:
            raise ValueError("occurred_at must be between 1970-01-01 and 2100-01-01 (UTC)")
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
