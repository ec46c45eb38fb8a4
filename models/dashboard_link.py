"""Read-only dashboard links, one row each, so that one link can be revoked on its own."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class DashboardLink(SQLModel, table=True):
    __tablename__ = "dashboard_link"

    id: int | None = Field(default=None, primary_key=True)
    note: str | None = Field(default=None, max_length=200)  # who it was made for
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
