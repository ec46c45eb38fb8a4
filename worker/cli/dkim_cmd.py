"""`followup dkim records`: the DNS TXT records that publish team.yaml's DKIM public keys."""

from __future__ import annotations

import typer

from worker.cli.common import console, write
from worker.cli.context import cli_context
from worker.mail.dkim import public_record

app = typer.Typer(help="DKIM: the records to publish for team.yaml's keys.", no_args_is_help=True)


@app.command("records")
def records(ctx: typer.Context) -> None:
    """One line per key: `<selector>._domainkey.<domain> TXT "<record>"`, for the DNS zone."""
    keys = cli_context(ctx).catalog().catalog.team.dkim_keys()
    if not keys:
        console.print("no dkim: entries in team.yaml", highlight=False)
        return
    for key in keys:
        write(f'{key.selector}._domainkey.{key.domain}. TXT "{public_record(key)}"')
