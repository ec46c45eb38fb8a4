"""touch: the report's indexes hold sent emails only, ix_touch_enrollment_step (claim upkeep)

A claim changes a touch's status: SQLite moves its entry in every index holding the status
column, PostgreSQL writes one in every index whose predicate the row meets. ix_touch_emailed and
ix_touch_sent held every touch, so each claimed row moved in both; the report counts only the
emails sent, so they become partial (kind = 'email' AND status = 'sent'), and an enrollment's
touches are looked up through ix_touch_enrollment_step, which has no status column. PostgreSQL
counts them from ix_touch_sent_email (i15r), so there ix_touch_sent goes.

Revision ID: i15f
Revises: i15r
Create Date: 2026-12-01 20:42:50.498345
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i15f"
down_revision: str | None = "i15r"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SENT_EMAIL = "kind = 'email' AND status = 'sent'"  # as models.touch.SENT_EMAIL_SQL at i15f
# name -> (columns before, columns now: partial on SENT_EMAIL)
NARROWED = {
    "ix_touch_emailed": (
        ["enrollment_id", "kind", "status", "step", "sender", "completed_at"],
        ["enrollment_id", "kind", "status", "completed_at"],
    ),
    "ix_touch_sent": (
        ["kind", "status", "sequence", "step", "sender", "completed_at"],
        ["kind", "status", "sequence", "step", "sender", "completed_at"],
    ),
}


def upgrade() -> None:
    op.create_index("ix_touch_enrollment_step", "touch", ["enrollment_id", "step"])
    where = sa.text(SENT_EMAIL)
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, (_, columns) in NARROWED.items():
        op.drop_index(name, table_name="touch")
        if not (postgresql and name == "ix_touch_sent"):  # ix_touch_sent_email serves it there
            op.create_index(name, "touch", columns, sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, (columns, _) in NARROWED.items():
        if not (postgresql and name == "ix_touch_sent"):
            op.drop_index(name, table_name="touch")
        op.create_index(name, "touch", columns)
    op.drop_index("ix_touch_enrollment_step", table_name="touch")
