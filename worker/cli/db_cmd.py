"""`followup db upgrade|current|history|check`: the schema's migrations (SPEC section 15)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from sqlalchemy import Engine

from worker.cli.common import EXIT_FOUND_ERRORS, console, err_console, fail, write
from worker.cli.context import cli_context
from worker.engine.db import make_engine
from worker.engine.schema import (
    SchemaError,
    describe,
    head_revision,
    prepare_schema,
    read_revision,
    scripts,
)
from worker.engine.schema_check import differences, migrations_against_models

app = typer.Typer(
    help="The database schema: migrations to upgrade it, and checks.", no_args_is_help=True
)


@contextmanager
def _engine(ctx: typer.Context) -> Iterator[Engine]:
    engine = make_engine(cli_context(ctx).load_settings().database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@app.command("upgrade")
def upgrade_command(ctx: typer.Context) -> None:
    """Bring the database to the code's schema (head); an empty one is created."""
    with _engine(ctx) as engine:
        try:
            done = prepare_schema(engine, upgrade=True)
        except SchemaError as exc:
            fail(str(exc))
    console.print(f"database {done}", highlight=False)


def _current(ctx: typer.Context) -> str | None:
    with _engine(ctx) as engine:
        try:
            return read_revision(engine)
        except SchemaError as exc:
            fail(str(exc))


@app.command("current")
def current_command(ctx: typer.Context) -> None:
    """The database's schema revision, and whether it is at head."""
    write(describe(_current(ctx)))


@app.command("history")
def history_command(ctx: typer.Context) -> None:
    """Every revision this followup ships, oldest first; the database's is marked."""
    current = _current(ctx)
    for script in reversed(list(scripts().walk_revisions())):
        marks = [
            m for m, on in (("head", script.is_head), ("current", script.revision == current)) if on
        ]
        suffix = f"  ({', '.join(marks)})" if marks else ""
        write(f"{script.revision}  {script.doc}{suffix}")


@app.command("check")
def check_command(
    ctx: typer.Context,
    database: Annotated[
        bool,
        typer.Option(
            "--database",
            help="compare FOLLOWUP_DATABASE_URL's actual tables too (it must be at head)",
        ),
    ] = False,
) -> None:
    """Exit 1 when the models and the migrations disagree (a model change needs a revision)."""
    found = [f"migrations vs models: {line}" for line in migrations_against_models()]
    if database:
        found += _live_differences(ctx)
    for line in found:
        err_console.print(f"[red]differs[/red] {line}", highlight=False, soft_wrap=True)
    if found:
        fail(
            f"{len(found)} difference(s): write a revision with "
            '`make migration m="what changed" id=<id>`',
            EXIT_FOUND_ERRORS,
        )
    console.print(f"models and migrations agree (head {head_revision()})", highlight=False)


def _live_differences(ctx: typer.Context) -> list[str]:
    with _engine(ctx) as engine:
        current = read_revision(engine)
        if current != head_revision():
            fail(f"the database is at {describe(current)}; upgrade it before checking it")
        with engine.connect() as connection:
            return [f"database vs models: {line}" for line in differences(connection)]
