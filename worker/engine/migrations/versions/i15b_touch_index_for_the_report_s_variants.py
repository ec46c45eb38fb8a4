"""touch index for the report's variants

Revision ID: i15b
Revises: i15a
Create Date: 2026-12-01 12:56:34.155064
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i15b"
down_revision: str | None = "i15a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("touch", schema=None) as batch_op:
        batch_op.create_index(
            "ix_touch_variant",
            ["enrollment_id", "kind", "status", "step", "variant", "replied_at"],
            unique=False,
            sqlite_where=sa.text("variant IS NOT NULL"),
            postgresql_where=sa.text("variant IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("touch", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_touch_variant",
            sqlite_where=sa.text("variant IS NOT NULL"),
            postgresql_where=sa.text("variant IS NOT NULL"),
        )
