"""`followup touches retry --failed`: re-drive chosen failed touches on purpose (same Message-ID,
attempts reset, each logged)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from worker.cli.common import console, fail, parse_when
from worker.cli.context import cli_context
from worker.cli.safe_text import clean
from worker.engine.db import transaction
from worker.flow.manual_retry import RetryChoice, retry_failed

app = typer.Typer(help="Touches: re-drive failed ones on purpose.", no_args_is_help=True)


@app.command("retry")
def retry(
    ctx: typer.Context,
    failed: Annotated[bool, typer.Option("--failed", help="failed touches (required)")] = False,
    since: Annotated[
        str | None, typer.Option(help="failed at or after (YYYY-MM-DD or ISO)")
    ] = None,
    sequence: Annotated[str | None, typer.Option(help="only this sequence")] = None,
    reason: Annotated[str | None, typer.Option(help="only failures whose reason has this")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="say which, change nothing")] = False,
) -> None:
    """Failed email touches due again now, with the same Message-ID and their attempts reset;
    never to a suppressed address nor after an exit. Prints how many."""
    if not failed:
        fail("touches retry: say which touches: --failed (the only kind that can be retried)")
    choice = RetryChoice(since=parse_when(since, "--since"), sequence=sequence, reason=reason)
    with cli_context(ctx).runtime() as rt, transaction(rt.engine) as session:
        result = retry_failed(session, choice, now=rt.clock.now(), dry_run=dry_run)
    verb = "would retry" if dry_run else "retried"
    console.print(f"{verb} {len(result.retried)} failed touch(es)", highlight=False)
    for touch_id, why in sorted(result.skipped.items()):
        console.print(Text(clean(f"  touch {touch_id} not retried: {why}")), highlight=False)
