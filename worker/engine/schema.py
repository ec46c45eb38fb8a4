"""The database schema's version: Alembic revisions in worker/engine/migrations/versions/."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text
from sqlmodel import SQLModel

import models  # noqa: F401  # registers every table on SQLModel.metadata
from worker.engine.db import read_only

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
FIRST_REVISION = "0001"
SCHEMA_LOCK = 7301  # PostgreSQL advisory lock: processes that start together migrate once


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = scripts().get_current_head()
    assert head is not None, "worker/engine/migrations/versions has no revision"
    return head


def current_revision(connection: Connection) -> str | None:
    """The stamped revision; a first-wave database (tables, no stamp) is at the first one."""
    revision = MigrationContext.configure(connection).get_current_revision()
    if revision is None and _has_tables(connection):
        return FIRST_REVISION
    return revision


def _has_tables(connection: Connection) -> bool:
    names = set(inspect(connection).get_table_names())
    return bool(names & set(SQLModel.metadata.tables))


def prepare_schema(engine: Engine) -> None:
    """Bring the database to head: a new one is created and stamped, an older one upgraded.

    A database already at head is only read: no write lock at start (SQLite), so a command
    that only reads (`followup status`) never waits for a busy writer.
    """
    with read_only(engine).connect() as connection:
        if current_revision(connection) == head_revision():
            return
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})"))
        current = current_revision(connection)
        if current is None:
            SQLModel.metadata.create_all(connection)
            MigrationContext.configure(connection).stamp(scripts(), "head")
            return
        if current != head_revision():
            upgrade(connection, current)


def upgrade(connection: Connection, current: str | None, target: str = "head") -> None:
    """Run the revisions after `current` up to `target` on this connection's transaction."""
    config = alembic_config(connection)
    if MigrationContext.configure(connection).get_current_revision() is None and current:
        command.stamp(config, current)  # a first-wave database: record where it starts
    command.upgrade(config, target)


def new_revision(message: str, revision_id: str) -> None:
    """Developers: write the revision that takes the head schema to the models (autogenerate)."""
    import tempfile

    from sqlalchemy import create_engine

    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite:///{folder}/head.db")
        with engine.begin() as connection:
            upgrade(connection, None)
            command.revision(
                alembic_config(connection), message=message, autogenerate=True, rev_id=revision_id
            )
        engine.dispose()


if __name__ == "__main__":  # make migration m="what changed" id=0002
    import sys

    new_revision(sys.argv[1], sys.argv[2])
