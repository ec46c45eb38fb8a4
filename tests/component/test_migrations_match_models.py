"""The migrations and the models describe the same schema (a model change needs a revision)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlmodel import SQLModel

from worker.engine.schema import current_revision, head_revision, upgrade
from worker.engine.schema_check import built_on

ONLY_ON_POSTGRESQL = {"ix_touch_sent_email", "ix_enrollment_mailed"}  # Index.ddl_if(dialect=)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'schema.db'}"
    return str(request.getfixturevalue("postgres_url"))


def test_upgrading_an_empty_database_to_head_gives_exactly_the_models(database_url: str) -> None:
    """Run every revision: nothing differs from SQLModel.metadata, apart from what the models
    build on the other backend only (`make migration`, `followup db check`)."""
    engine = create_engine(database_url)
    with engine.begin() as connection:
        upgrade(connection, None)
    with engine.connect() as connection:
        assert current_revision(connection) == head_revision()
        include = built_on(connection.dialect.name)
        context = MigrationContext.configure(connection, opts={"include_object": include})
        assert compare_metadata(context, SQLModel.metadata) == []
        tables = ("touch", "enrollment")
        found = inspect(connection)
        names = {index["name"] for table in tables for index in found.get_indexes(table)}
        wanted = ONLY_ON_POSTGRESQL if connection.dialect.name == "postgresql" else set()
        assert ONLY_ON_POSTGRESQL & names == wanted
    engine.dispose()
