"""`followup compliance link [--days N] [--note TEXT] | --list | --revoke ID`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from worker.cli.common import console, err_console, fail, write
from worker.cli.context import CliContext, cli_context
from worker.cli.safe_text import cell
from worker.compliance.dashboard_link import (
    DEFAULT_DAYS,
    MAX_DAYS,
    LinkError,
    create_link,
    list_links,
    revoke_link,
)
from worker.engine.db import reading, transaction
from worker.engine.settings import ConfigError

MAX_NOTE = 200


def register(app: typer.Typer) -> None:
    app.command("link")(link)


def link(
    ctx: typer.Context,
    days: Annotated[
        int,
        typer.Option(min=1, max=MAX_DAYS, help="days the link works (7 by default, 30 at most)"),
    ] = DEFAULT_DAYS,
    note: Annotated[str | None, typer.Option(help="who the link is for (200 characters)")] = None,
    list_all: Annotated[bool, typer.Option("--list", help="every link and its state")] = False,
    revoke: Annotated[int | None, typer.Option(metavar="ID", help="stop one link now")] = None,
) -> None:
    """A signed read-only link to the dashboard page (GET /compliance), valid for --days."""
    cli = cli_context(ctx)
    if list_all:
        _list(cli)
    elif revoke is not None:
        _revoke(cli, revoke)
    elif note is not None and len(note) > MAX_NOTE:
        fail(f"--note: at most {MAX_NOTE} characters")
    else:
        _create(cli, days, note)


def _create(cli: CliContext, days: int, note: str | None) -> None:
    try:
        keys = cli.load_settings().key_ring()
    except ConfigError as exc:
        fail(str(exc))
    with cli.runtime() as rt, transaction(rt.engine) as session:
        row, url = create_link(
            session,
            keys=keys,
            base_url=rt.settings.base_url,
            now=cli.clock.now(),
            days=days,
            note=note,
        )
    write(url)
    err_console.print(
        f"link {row.id} works until {row.expires_at:%Y-%m-%d %H:%M} UTC; "
        f"stop it with `followup compliance link --revoke {row.id}`",
        highlight=False,
        markup=False,
    )


def _revoke(cli: CliContext, link_id: int) -> None:
    with cli.runtime() as rt:
        try:
            with transaction(rt.engine) as session:
                revoke_link(session, link_id, now=cli.clock.now())
        except LinkError as exc:
            fail(str(exc))
    console.print(f"dashboard link {link_id} revoked", highlight=False)


def _list(cli: CliContext) -> None:
    now = cli.clock.now()
    with cli.runtime() as rt, reading(rt.engine) as session:
        links = list_links(session)
    table = Table("id", "note", "created (UTC)", "expires (UTC)", "state")
    for row in links:
        table.add_row(
            str(row.id),
            cell(row.note),
            _minute(row.created_at),
            _minute(row.expires_at),
            Text(_state(row.revoked_at, row.expires_at, now)),
        )
    console.print(table)


def _state(revoked_at: datetime | None, expires_at: datetime, now: datetime) -> str:
    if revoked_at is not None:
        return f"revoked {_minute(revoked_at)}"
    return "expired" if expires_at <= now else "works"


def _minute(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M}"
