"""touch: ix_touch_sent_email, the report's sent emails on PostgreSQL (and ix_enrollment_mailed)

The report counts sent emails per sequence, step and mailbox. On PostgreSQL a partial index of
only those rows (deduplicated: a few distinct keys) serves the count by an index-only scan,
where ix_touch_sent's 60 MB of every touch lost to a scan of the table. SQLite gets nothing: it
keeps ix_touch_sent, and a partial index misled its planner on a database never ANALYZEd. The
build holds writes to touch for its duration (about 2 s a million touches).
ix_enrollment_mailed does the same for the enrollments mailed per sequence, on PostgreSQL only.

Revision ID: i15r
Revises: i15e
Create Date: 2026-12-01 20:32:34.476568
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i15r"
down_revision: str | None = "i15e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SENT_EMAIL = "kind = 'email' AND status = 'sent'"  # as models.touch.SENT_EMAIL_SQL at i15r
MAILED = "touches_completed > touches_manual"  # as models.enrollment.MAILED_SQL at i15r


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_touch_sent_email",
            "touch",
            ["sequence", "step", "sender"],
            postgresql_where=sa.text(SENT_EMAIL),
        )
        op.create_index(
            "ix_enrollment_mailed",
            "enrollment",
            ["sequence"],
            postgresql_where=sa.text(MAILED),
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_enrollment_mailed", table_name="enrollment")
        op.drop_index("ix_touch_sent_email", table_name="touch")
