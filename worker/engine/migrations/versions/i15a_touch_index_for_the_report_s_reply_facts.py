"""touch index for the report's reply facts

Revision ID: i15a
Revises: i09b
Create Date: 2026-12-01 11:20:55.821663
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "i15a"
down_revision: str | None = "i09b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("touch", schema=None) as batch_op:
        batch_op.create_index(
            "ix_touch_emailed",
            ["enrollment_id", "kind", "status", "step", "sender", "completed_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("touch", schema=None) as batch_op:
        batch_op.drop_index("ix_touch_emailed")
