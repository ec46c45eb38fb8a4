"""The migrations and the models describe the same schema (a model change needs a revision)."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine
from sqlmodel import SQLModel

from worker.engine.schema import current_revision, head_revision, upgrade


def test_upgrading_an_empty_database_to_head_gives_exactly_the_models(tmp_path: Path) -> None:
    """Run every revision on SQLite: nothing differs from SQLModel.metadata (`make migration`)."""
    engine = create_engine(f"sqlite:///{tmp_path / 'schema.db'}")
    with engine.begin() as connection:
        upgrade(connection, None)
    with engine.connect() as connection:
        assert current_revision(connection) == head_revision()
        assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []
    engine.dispose()
