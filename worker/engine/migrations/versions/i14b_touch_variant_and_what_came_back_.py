"""touch variant and what came back: replied_at, bounced_at, complained_at

Revision ID: i14b
Revises: i14a
Create Date: 2026-12-01 09:28:49.760674
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import models.types

revision: str = "i14b"
down_revision: str | None = "i14a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("touch", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("variant", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True)
        )
        batch_op.add_column(
            sa.Column("replied_at", models.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("bounced_at", models.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("complained_at", models.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_touch_bounced_at"), ["bounced_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_touch_complained_at"), ["complained_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("touch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_touch_complained_at"))
        batch_op.drop_index(batch_op.f("ix_touch_bounced_at"))
        batch_op.drop_column("complained_at")
        batch_op.drop_column("bounced_at")
        batch_op.drop_column("replied_at")
        batch_op.drop_column("variant")
