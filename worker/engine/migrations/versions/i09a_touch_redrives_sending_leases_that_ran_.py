"""touch redrives: sending leases that ran out

Revision ID: i09a
Revises: i14d
Create Date: 2026-12-01 11:13:40.526682
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i09a"
down_revision: str | None = "i14d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("touch", schema=None) as batch_op:  # existing rows: never re-driven
        batch_op.add_column(
            sa.Column("redrives", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )


def downgrade() -> None:
    with op.batch_alter_table("touch", schema=None) as batch_op:
        batch_op.drop_column("redrives")
