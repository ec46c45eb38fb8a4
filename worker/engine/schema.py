"""The database schema's version: Alembic revisions in worker/engine/migrations/versions/.

Only `followup db upgrade` (and the demo and the tests, on their own databases) migrates; every
other command refuses a database that is behind or ahead of the code, with one line saying why.
A new, empty database is created at head by whichever command touches it first.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel

import models  # noqa: F401  # registers every table on SQLModel.metadata
from worker.engine.db import read_only

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
FIRST_REVISION = "0001"
# The tables revision 0001 creates: a first-wave database (made before Alembic) has all of them.
FIRST_REVISION_TABLES = frozenset(
    {
        "api_key",
        "compliance_entry",
        "enrollment",
        "event",
        "lead",
        "mailbox_day",
        "sequence_version",
        "touch",
    }
)
SCHEMA_LOCK = 7301  # PostgreSQL advisory lock: processes that start together migrate once
UPGRADE_HINT = "run `followup db upgrade` (after a backup)"


class SchemaError(Exception):
    """The database's schema cannot be used as it is; the message says what to do."""


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


def known_revisions() -> list[str]:
    """Every revision this code ships, oldest first."""
    return [script.revision for script in reversed(list(scripts().walk_revisions()))]


def stamped_revision(connection: Connection) -> str | None:
    """What alembic_version says, if anything."""
    try:
        return MigrationContext.configure(connection).get_current_revision()
    except CommandError as exc:  # several rows in alembic_version: a branched history
        raise SchemaError(f"the database's alembic_version table is inconsistent: {exc}") from None


def current_revision(connection: Connection) -> str | None:
    """The stamped revision; a first-wave database (tables, no stamp) is at the first one."""
    revision = stamped_revision(connection)
    if revision is None and _followup_tables(connection):
        return FIRST_REVISION
    return revision


def read_revision(engine: Engine) -> str | None:
    """The revision, read without taking SQLite's write lock (readiness, `db current`)."""
    return _read(engine)[1]


def _read(engine: Engine) -> tuple[str | None, str | None]:
    """(the stamp, the revision) in one read-only transaction."""
    with read_only(engine).connect() as connection, connection.begin():
        stamp = stamped_revision(connection)
        return stamp, stamp or current_revision(connection)


def _followup_tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) & set(SQLModel.metadata.tables)


def describe(current: str | None) -> str:
    """One line for `followup db current` and readiness: where the database stands."""
    head = head_revision()
    if current is None:
        return f"empty (no followup tables yet; head is {head})"
    if current == head:
        return f"{current} (head)"
    if current in known_revisions():
        return f"{current} (behind: head is {head}; {UPGRADE_HINT})"
    return f"{current} (unknown to this followup, whose head is {head})"


def refusal(current: str | None) -> str | None:
    """Why a process must not run on a database at `current`, or None when it may."""
    head = head_revision()
    if current is None or current == head:
        return None
    if current in known_revisions():
        return f"the database schema is at revision {current}, this followup needs {head}: " + (
            UPGRADE_HINT
        )
    return (
        f"the database schema is at revision {current}, which this followup does not know "
        f"(head {head}): it was upgraded by a newer followup; run that version, or restore "
        "the backup taken before the upgrade"
    )


def prepare_schema(engine: Engine, *, upgrade: bool = False) -> str:
    """Make sure the database is at head; returns what was done.

    Fast path: one read of the stamp. A new database is created and stamped; one that is behind
    is upgraded only when `upgrade` is set, else SchemaError; one that is ahead always refuses.
    A first-wave database (all the first revision's tables, no stamp) is stamped first.
    """
    stamp, current = _read(engine)
    if stamp == head_revision():
        return f"already at {stamp} (head)"
    _refuse_unless(current, upgrade)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})"))
        stamp = stamped_revision(connection)  # again, under the lock: another may have won
        current = stamp or current_revision(connection)
        if stamp == head_revision():
            return f"already at {stamp} (head)"
        _refuse_unless(current, upgrade)
        _refuse_half_applied(connection, current, stamped=stamp is not None)
        if current is None:
            SQLModel.metadata.create_all(connection)
            MigrationContext.configure(connection).stamp(scripts(), "head")
            return f"created at {head_revision()} (head)"
        if stamp is None:  # a first-wave database: record where it starts
            MigrationContext.configure(connection).stamp(scripts(), current)
        if current == head_revision():
            return f"recorded as {current} (head)"
        _upgrade_or_explain(connection, current)
    return f"upgraded from {current} to {head_revision()} (head)"


def _refuse_unless(current: str | None, upgrade: bool) -> None:
    problem = refusal(current)
    if problem is None:
        return
    if upgrade and current in known_revisions():
        return
    raise SchemaError(problem)


def _refuse_half_applied(connection: Connection, current: str | None, *, stamped: bool) -> None:
    """Leftovers of a migration or set-up that stopped halfway: never build on top of them."""
    names = set(inspect(connection).get_table_names())
    leftovers = sorted(name for name in names if name.startswith("_alembic_tmp_"))
    if leftovers:
        raise SchemaError(
            f"a migration stopped halfway: {', '.join(leftovers)} was left behind; restore the "
            "backup taken before the upgrade, then run `followup db upgrade` again"
        )
    if current == FIRST_REVISION and not stamped:
        missing = sorted(FIRST_REVISION_TABLES - names)
        if missing:
            raise SchemaError(
                "the database has some of followup's tables but not "
                f"{', '.join(missing)}, and no schema revision: a set-up that stopped halfway? "
                "restore a backup, or point FOLLOWUP_DATABASE_URL at an empty database"
            )


def _upgrade_or_explain(connection: Connection, current: str) -> None:
    """Run the revisions after `current` in this transaction; a failure rolls all of them back."""
    try:
        upgrade(connection, current)
    except (SQLAlchemyError, CommandError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise SchemaError(
            f"upgrading the database from {current} to {head_revision()} failed ({reason}); "
            f"nothing was changed, it is still at {current}"
        ) from None


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
