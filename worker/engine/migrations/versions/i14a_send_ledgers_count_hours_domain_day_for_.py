"""send ledgers count hours; domain_day for recipient-domain throttles

Revision ID: i14a
Revises: i13b
Create Date: 2026-12-01 09:16:21.503956
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import models.types

revision: str = "i14a"
down_revision: str | None = "i13b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "domain_day",
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("hour_start", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("hour_used", sa.Integer(), nullable=False),
        sa.Column("last_sent_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("domain", sqlmodel.sql.sqltypes.AutoString(length=253), nullable=False),
        sa.Column("day", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.PrimaryKeyConstraint("domain", "day"),
    )
    with op.batch_alter_table("mailbox_day", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("hour_start", models.types.UTCDateTime(timezone=True), nullable=True)
        )
        # existing rows start the hour count at 0
        batch_op.add_column(
            sa.Column("hour_used", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("mailbox_day", schema=None) as batch_op:
        batch_op.drop_column("hour_used")
        batch_op.drop_column("hour_start")

    op.drop_table("domain_day")
