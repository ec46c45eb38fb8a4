"""sla_alert for guardrail pauses: an alert about a mailbox or sequence has no enrollment

Revision ID: i14d
Revises: i11a
Create Date: 2026-12-01 11:05:40.696981
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i14d"
down_revision: str | None = "i11a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sla_alert", schema=None) as batch_op:
        batch_op.alter_column("enrollment_id", existing_type=sa.INTEGER(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM sla_alert WHERE enrollment_id IS NULL")  # pause alerts have no lead
    with op.batch_alter_table("sla_alert", schema=None) as batch_op:
        batch_op.alter_column("enrollment_id", existing_type=sa.INTEGER(), nullable=False)
