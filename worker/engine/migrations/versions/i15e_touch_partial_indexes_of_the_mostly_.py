"""touch: partial indexes of the mostly-NULL columns, ix_touch_enrollment_id dropped (claim upkeep)

A claim changes a touch's status: PostgreSQL writes a new entry in every index the row is in
(no HOT update), SQLite moves its entry in each index on a changed column. A waiting touch has
no lease, Message-ID, completion, bounce or complaint, so the indexes of those columns hold only
the rows where they are set; ix_touch_emailed starts with enrollment_id and serves its lookups.

Revision ID: i15e
Revises: i15c
Create Date: 2026-12-01 17:20:43.612545
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i15e"
down_revision: str | None = "i15c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# name -> columns; each index made partial on its last column being set
PARTIAL = {
    "ix_touch_status_lease": ["status", "lease_until"],
    "ix_touch_message_id": ["message_id"],
    "ix_touch_completed_at": ["completed_at"],
    "ix_touch_bounced_at": ["bounced_at"],
    "ix_touch_complained_at": ["complained_at"],
}


def upgrade() -> None:
    op.drop_index("ix_touch_enrollment_id", table_name="touch")
    for name, columns in PARTIAL.items():
        where = sa.text(f"{columns[-1]} IS NOT NULL")
        op.drop_index(name, table_name="touch")
        op.create_index(name, "touch", columns, sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    for name, columns in PARTIAL.items():
        op.drop_index(name, table_name="touch")
        op.create_index(name, "touch", columns)
    op.create_index("ix_touch_enrollment_id", "touch", ["enrollment_id"])
