"""Alembic's environment: runs on the connection that worker/engine/schema.py hands it."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import models  # noqa: F401  # registers every table on SQLModel.metadata
from worker.engine.schema_check import built_on

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached when someone runs `alembic` by hand
    raise RuntimeError("run migrations through `followup db ...`, which passes the connection")

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    compare_type=True,
    include_object=built_on(connection.dialect.name),  # autogenerate as `followup db check`
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
