"""`followup inbox` (the watcher alone) and `followup inbox check` (fetch once, print outcomes)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from worker.cli.common import EXIT_FOUND_ERRORS, choice, console, err_console, fail, write
from worker.cli.context import cli_context
from worker.cli.metrics_port import start_metrics
from worker.cli.process_signals import stop_on_signals, verbose, wait_for
from worker.cli.safe_text import cell, labelled

if TYPE_CHECKING:  # the watcher (mail parsing, IMAP) loads when an inbox command runs
    from worker.inbox.watcher import Seen

app = typer.Typer(
    help="Read the mailboxes: replies, bounces, auto-replies and complaints. Without a command: "
    "run the watcher alone (`followup run` includes it).",
    invoke_without_command=True,
)


@app.callback()
def inbox(ctx: typer.Context) -> None:
    """Without a command: run the watcher alone (IMAP IDLE where offered, else polling)."""
    if ctx.invoked_subcommand is not None:
        return
    from worker.inbox.watcher import run_watcher

    verbose(cli_context(ctx).load_settings().log_level)
    with cli_context(ctx).runtime() as rt:
        stop = stop_on_signals()
        ops = start_metrics(rt)  # FOLLOWUP_METRICS_PORT: /metrics, /healthz, /readyz
        threads = run_watcher(rt, stop)
        names = ", ".join(t.name.removeprefix("inbox ") for t in threads)
        console.print(cell(f"followup inbox watching {names}; Ctrl-C to stop"), highlight=False)
        wait_for(stop)
        for thread in threads:
            thread.join(timeout=10)
        if ops is not None:
            ops.stop()


@app.command("check")
def check(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run/--apply", help="only print (default), or act once")
    ] = True,
    fmt: Annotated[str, typer.Option("--format", help="table|json")] = "table",
) -> None:
    """Fetch every mailbox once and print each message's outcome and the rule that decided it."""
    from worker.inbox.watcher import make_sources, one_line, poll

    choice(fmt, ("table", "json"), "--format")
    seen: list[Seen] = []
    failures = []
    with cli_context(ctx).runtime() as rt:
        for source in make_sources(rt):
            try:
                seen += poll(rt, source, dry_run=dry_run)
            except Exception as exc:  # one mailbox failing does not hide the others
                failures.append(f"{source.name}: {one_line(exc)}")
            finally:
                source.close()
    if fmt == "json":
        write(json.dumps([_row(item) for item in seen], indent=2))
    else:
        _print(seen, dry_run)
    for line in failures:
        err_console.print(labelled("error", line), highlight=False, soft_wrap=True)
    if failures:
        fail(f"{len(failures)} mailbox(es) could not be read", EXIT_FOUND_ERRORS)


def _row(item: Seen) -> dict[str, object]:
    d = item.decision
    return {
        "mailbox": item.mailbox,
        "uid": item.uid,
        "outcome": str(d.outcome),
        "rule": d.rule,
        "lead": d.lead_email,
        "sender": d.sender,
        "subject": d.subject,
        "event": d.event_type,
        "hold_until": d.hold_until.isoformat() if d.hold_until else None,
        "already_processed": d.already,
    }


def _print(seen: list[Seen], dry_run: bool) -> None:
    table = Table("mailbox", "uid", "outcome", "lead / sender", "event", "rule")
    for item in seen:
        d = item.decision
        outcome = f"{d.outcome} (done before)" if d.already else str(d.outcome)
        table.add_row(  # what a message says is untrusted: shown as text, never as markup
            *(cell(value) for value in (item.mailbox, item.uid, outcome)),
            cell(d.lead_email or d.sender or ""),
            cell(d.event_type or ""),
            cell(d.rule),
        )
    console.print(table)
    verb = "would act on" if dry_run else "acted on"
    acted = sum(1 for item in seen if item.decision.event_type and not item.decision.already)
    console.print(f"{len(seen)} message(s); {verb} {acted}", highlight=False)
