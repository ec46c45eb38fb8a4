"""`followup api` (the HTTP API alone) and `followup apikey create|revoke|list`."""

from __future__ import annotations

import re
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from worker.auth.apikeys import (
    DEFAULT_SCOPES,
    NAME_PATTERN,
    SCOPES,
    ApiKeyError,
    check_scopes,
    create_key,
    list_keys,
    revoke_key,
)
from worker.cli.common import console, err_console, fail, write
from worker.cli.context import cli_context
from worker.cli.process_signals import verbose
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

    verbose(cli_context(ctx).load_settings().log_level)
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
    scope: Annotated[
        list[str] | None,
        typer.Option(
            help=f"what the key may do, repeatable: {', '.join(SCOPES)} (default: events:write)"
        ),
    ] = None,
) -> None:
    """Print a new API key once; only its hash is stored. Least privilege by default."""
    try:
        scopes = check_scopes(
            part for option in (scope or DEFAULT_SCOPES) for part in option.split(",")
        )
    except ApiKeyError as exc:
        fail(f"--scope: {exc}")
    with cli_context(ctx).runtime() as rt:
        try:
            with transaction(rt.engine) as session:
                key = create_key(session, _check_name(name), now=rt.clock.now(), scopes=scopes)
        except ApiKeyError as exc:
            fail(str(exc))
    write(key)
    err_console.print(
        f"API key {name!r} created with scopes {' '.join(scopes)}; it is shown only this once",
        highlight=False,
        markup=False,
        style="dim",
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
    console.print(f"API key {name!r} revoked", highlight=False, markup=False)


@apikey_app.command("list")
def list_command(ctx: typer.Context) -> None:
    """Key names, their scopes, when they were made and revoked (never the keys)."""
    with cli_context(ctx).runtime() as rt, reading(rt.engine) as session:
        keys = list_keys(session)
    table = Table("name", "scopes", "created (UTC)", "revoked (UTC)")
    for key in keys:
        table.add_row(
            Text(key.name),
            Text(key.scopes),
            f"{key.created_at:%Y-%m-%d %H:%M}",
            f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "",
        )
    console.print(table)
