"""sending_pause: mailboxes and sequences the guardrails paused

Revision ID: i14c
Revises: i14b
Create Date: 2026-12-01 09:41:45.331691
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import models.types

revision: str = "i14c"
down_revision: str | None = "i14b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sending_pause",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("paused_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("resumed_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resumed_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.PrimaryKeyConstraint("scope", "name"),
    )


def downgrade() -> None:
    op.drop_table("sending_pause")
