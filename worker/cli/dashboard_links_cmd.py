"""`followup compliance link [--days N] [--note TEXT] | --list | --revoke ID`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from worker.cli.common import console, err_console, fail, runtime, write
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


def register(app: typer.Typer) -> None:
    app.command("link")(link)


def link(
    days: Annotated[
        int,
        typer.Option(min=1, max=MAX_DAYS, help="days the link works (7 by default, 30 at most)"),
    ] = DEFAULT_DAYS,
    note: Annotated[str | None, typer.Option(help="who the link is for (200 characters)")] = None,
    list_all: Annotated[bool, typer.Option("--list", help="every link and its state")] = False,
    revoke: Annotated[int | None, typer.Option(metavar="ID", help="stop one link now")] = None,
) -> None:
    """A signed read-only link to the dashboard page (GET /compliance), valid for --days."""
    if list_all:
        _list()
    elif revoke is not None:
        _revoke(revoke)
    elif note is not None and len(note) > 200:
        fail("--note: at most 200 characters")
    else:
        _create(days, note)


def _create(days: int, note: str | None) -> None:
    rt = runtime()
    try:
        keys = rt.key_ring
    except ConfigError as exc:
        fail(str(exc))
    with transaction(rt.engine) as session:
        row, url = create_link(
            session,
            keys=keys,
            base_url=rt.settings.base_url,
            now=rt.clock.now(),
            days=days,
            note=note,
        )
    rt.close()
    write(url)
    err_console.print(
        f"link {row.id} works until {row.expires_at:%Y-%m-%d %H:%M} UTC; "
        f"stop it with `followup compliance link --revoke {row.id}`",
        highlight=False,
        markup=False,
    )


def _revoke(link_id: int) -> None:
    rt = runtime()
    try:
        with transaction(rt.engine) as session:
            revoke_link(session, link_id, now=rt.clock.now())
    except LinkError as exc:
        fail(str(exc))
    finally:
        rt.close()
    console.print(f"dashboard link {link_id} revoked", highlight=False)


def _list() -> None:
    rt = runtime()
    now = rt.clock.now()
    with reading(rt.engine) as session:
        links = list_links(session)
    rt.close()
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
