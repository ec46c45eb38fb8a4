"""Extra Alembic revisions on top of the code's head, for tests of what a later release meets:
a database that is behind, a revision that fails halfway. The code's own revisions are copied,
so this keeps working as branches add theirs."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from worker.engine import schema

REVISION = '''
"""{message}"""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
{body}


def downgrade() -> None:
    pass
'''


@contextmanager
def revisions_on_top(
    folder: Path, monkeypatch: pytest.MonkeyPatch, bodies: dict[str, str]
) -> Iterator[list[str]]:
    """Copy the migrations, chain one revision per (id -> upgrade body) after the head, and point
    worker.engine.schema at the copy; yields the new ids, oldest first."""
    copy = folder / "migrations"
    shutil.copytree(schema.MIGRATIONS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    down = schema.head_revision()
    for revision, body in bodies.items():
        text = REVISION.format(
            message=f"test revision {revision}",
            revision=revision,
            down=down,
            body=textwrap.indent(textwrap.dedent(body).strip(), "    "),
        )
        (copy / "versions" / f"{revision}.py").write_text(text.lstrip(), encoding="utf-8")
        down = revision
    monkeypatch.setattr(schema, "MIGRATIONS", copy)
    schema.scripts.cache_clear()
    try:
        yield list(bodies)
    finally:
        monkeypatch.undo()
        schema.scripts.cache_clear()
