"""touch: ix_touch_due, the waiting touches in due order, for the scheduler's claim

The claim takes the first few due touches, in due order. Through ix_touch_status_due, with two
waiting statuses, both backends read and sorted every touch due to take those few: a backlog of
n touches cost n rows a claim. A partial index of only the waiting touches, on (due_at, id,
status: covering for SQLite), hands them over in order; a claim or a send leaves none of its
entries behind. The build holds writes to touch for its duration (about 1 s a million touches,
most of which it skips).

Revision ID: i15g
Revises: i15f
Create Date: 2026-12-02 04:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i15g"
down_revision: str | None = "i15f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = "status IN ('scheduled', 'deferred')"  # as models.touch.WAITING_SQL at i15g


def upgrade() -> None:
    where = sa.text(WAITING)
    op.create_index(
        "ix_touch_due",
        "touch",
        ["due_at", "id", "status"],
        sqlite_where=where,
        postgresql_where=where,
    )


def downgrade() -> None:
    op.drop_index("ix_touch_due", table_name="touch")
