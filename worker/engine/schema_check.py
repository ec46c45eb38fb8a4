"""`followup db check`: do the migrations build exactly the schema the models describe?"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine
from sqlmodel import SQLModel

from worker.engine.schema import upgrade


def differences(connection: Connection) -> list[str]:
    """What autogenerate would write to take this database to the models, one line each."""
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "render_as_batch": True,
            "include_object": built_on(connection.dialect.name),
        },
    )
    return [
        describe_difference(diff) for diff in _flatten(compare_metadata(context, SQLModel.metadata))
    ]


def built_on(dialect: str) -> Callable[..., bool]:
    """Alembic's include_object: what the models build on this database, as create_all does,
    so an index made for one backend only (`Index(...).ddl_if(dialect=...)`) is not missing on
    the other."""

    def include(item: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
        rule = getattr(item, "_ddl_if", None)  # where SQLAlchemy keeps ddl_if()'s condition
        if reflected or rule is None or rule.dialect is None:
            return True
        wanted = (rule.dialect,) if isinstance(rule.dialect, str) else tuple(rule.dialect)
        return dialect in wanted

    return include


def migrations_against_models(engine: Engine | None = None) -> list[str]:
    """Run every revision on a scratch database (SQLite, or `engine`'s empty one) and compare."""
    if engine is not None:
        with engine.begin() as connection:
            upgrade(connection, None)
            return differences(connection)
    with tempfile.TemporaryDirectory(prefix="followup-check-") as folder:
        scratch = create_engine(f"sqlite:///{folder}/check.db")
        try:
            with scratch.begin() as connection:
                upgrade(connection, None)
                return differences(connection)
        finally:
            scratch.dispose()


def _flatten(diffs: list[Any]) -> list[tuple[Any, ...]]:
    """compare_metadata nests column modifications in lists; make one flat list of tuples."""
    flat: list[tuple[Any, ...]] = []
    for diff in diffs:
        flat.extend(diff if isinstance(diff, list) else [diff])
    return flat


def describe_difference(diff: tuple[Any, ...]) -> str:
    """`add_column touch.note`, `modify_type lead.email: VARCHAR(200) -> VARCHAR(320)`, ..."""
    kind = diff[0]
    if kind in ("add_table", "remove_table"):
        return f"{kind} {diff[1].name}"
    if kind in ("add_column", "remove_column"):
        return f"{kind} {diff[2]}.{diff[3].name}"
    if kind in ("add_index", "remove_index", "add_constraint", "remove_constraint"):
        item = diff[1]
        table = getattr(getattr(item, "table", None), "name", "?")
        return f"{kind} {item.name or '(unnamed)'} on {table}"
    if kind.startswith("modify_"):
        table, column, old, new = diff[2], diff[3], diff[5], diff[6]
        return f"{kind} {table}.{column}: {old} -> {new}"
    return " ".join(str(part) for part in diff)
