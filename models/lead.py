"""A person we follow up with, keyed by lower-cased email."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import JSON, Column, Field, SQLModel

from models.types import UTCDateTime


class LeadBase(SQLModel):
    email: str = Field(max_length=320)
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    owner: str | None = Field(default=None, max_length=320)
    timezone: str | None = Field(default=None, max_length=64)


class Lead(LeadBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True, index=True)
    owner: str | None = Field(default=None, max_length=320, index=True)
    fields: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    suppressed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    suppressed_reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)

    def template_context(self) -> dict[str, Any]:
        """Custom fields first, so standard columns win a clash; unset names stay undefined."""
        context: dict[str, Any] = dict(self.fields or {})
        for name in ("email", "first_name", "last_name", "company", "owner", "timezone"):
            value = getattr(self, name)
            if value not in (None, ""):
                context[name] = value
        return context
