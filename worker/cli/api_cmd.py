"""`followup api` (the HTTP API alone) and `followup apikey create|revoke|list`."""

from __future__ import annotations

import logging
import re
from typing import Annotated

import typer
from rich.table import Table

from worker.auth.apikeys import NAME_PATTERN, ApiKeyError, create_key, list_keys, revoke_key
from worker.cli.common import console, err_console, fail, write
from worker.cli.context import cli_context
from worker.engine.db import reading, transaction

apikey_app = typer.Typer(
    help="API keys for the HTTP API (Authorization: Bearer <key>).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.command("api")(api)
    app.add_typer(apikey_app, name="apikey")


def api(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8000,
) -> None:
    """The HTTP API alone; events go to Redis workers when FOLLOWUP_REDIS_URL is set."""
    from worker.api.server import serve

    logging.getLogger("followup").setLevel(logging.INFO)
    with cli_context(ctx).runtime(need_secret=True) as rt:
        if rt.settings.redis_url:
            from worker.engine.actors import declare_actors
            from worker.engine.broker import make_broker

            declare_actors(make_broker(rt.settings), rt)
            serve(rt, host=host, port=port)
        else:  # no workers in this process: an accepted event is carried out in the request
            serve(rt, host=host, port=port, process_inline=True)


def _check_name(name: str) -> str:
    if not re.match(NAME_PATTERN, name):
        fail(f"NAME {name!r}: use up to 100 letters, digits and . _ @ - (e.g. crm-sync)")
    return name


@apikey_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="who uses the key, e.g. crm-sync")],
) -> None:
    """Print a new API key once; only its hash is stored."""
    with cli_context(ctx).runtime() as rt:
        try:
            with transaction(rt.engine) as session:
                key = create_key(session, _check_name(name), now=rt.clock.now())
        except ApiKeyError as exc:
            fail(str(exc))
    write(key)
    err_console.print(
        f"[dim]API key {name!r} created; it is shown only this once[/dim]", highlight=False
    )


@apikey_app.command("revoke")
def revoke(ctx: typer.Context, name: Annotated[str, typer.Argument(help="the key's name")]) -> None:
    """Stop a key from working at once."""
    with cli_context(ctx).runtime() as rt:
        try:
            with transaction(rt.engine) as session:
                revoke_key(session, name, now=rt.clock.now())
        except ApiKeyError as exc:
            fail(str(exc))
    console.print(f"API key {name!r} revoked", highlight=False)


@apikey_app.command("list")
def list_command(ctx: typer.Context) -> None:
    """Key names, when they were made and revoked (never the keys)."""
    with cli_context(ctx).runtime() as rt, reading(rt.engine) as session:
        keys = list_keys(session)
    table = Table("name", "created (UTC)", "revoked (UTC)")
    for key in keys:
        table.add_row(
            key.name,
            f"{key.created_at:%Y-%m-%d %H:%M}",
            f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "",
        )
    console.print(table)
