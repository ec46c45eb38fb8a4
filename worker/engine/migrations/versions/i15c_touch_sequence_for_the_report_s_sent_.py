"""touch sequence for the report's sent counts, enrollment exit index for its replies

Revision ID: i15c
Revises: i15b
Create Date: 2026-12-01 14:25:10.602452
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "i15c"
down_revision: str | None = "i15b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Existing touches take their enrollment's sequence (filled before the index is built).
FILL = (
    "UPDATE touch SET sequence = "
    "(SELECT enrollment.sequence FROM enrollment WHERE enrollment.id = touch.enrollment_id) "
    "WHERE enrollment_id IS NOT NULL"
)


def upgrade() -> None:
    with op.batch_alter_table("touch", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sequence", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True)
        )
    op.execute(FILL)
    with op.batch_alter_table("touch", schema=None) as batch_op:
        batch_op.create_index(
            "ix_touch_sent",
            ["kind", "status", "sequence", "step", "sender", "completed_at"],
            unique=False,
        )
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.create_index("ix_enrollment_exit", ["exit_reason", "ended_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.drop_index("ix_enrollment_exit")
    with op.batch_alter_table("touch", schema=None) as batch_op:
        batch_op.drop_index("ix_touch_sent")
        batch_op.drop_column("sequence")
