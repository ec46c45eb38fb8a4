"""`followup mailboxes list|resume`: the sending mailboxes with their caps and guardrail figures,
and resuming what the guardrails paused."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from worker.cli.common import choice, console, fail, write
from worker.cli.context import cli_context
from worker.cli.safe_text import cell, clean
from worker.engine.db import reading, transaction
from worker.engine.sending_status import GuardState, guard_states, sending_states
from worker.flow.guardrails import current_pauses, resume_sending

app = typer.Typer(
    help="Sending mailboxes: caps, guardrails, and resuming a paused one.", no_args_is_help=True
)


@app.command("list")
def list_mailboxes(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", help="table|json")] = "table",
) -> None:
    """Each sending mailbox (and paused sequence): paused or not, cap today, and the sends,
    hard bounces and complaints the guardrails count over their window."""
    choice(fmt, ("table", "json"), "--format")
    with cli_context(ctx).runtime() as rt, reading(rt.engine) as session:
        now = rt.clock.now()
        sequences = list(rt.catalog.sequences.values())
        states = guard_states(session, rt.catalog.team, sequences, now=now)
        caps = {s.address: s for s in sending_states(session, rt.catalog.team, now=now)}
        window = rt.catalog.team.guardrails.window
    if fmt == "json":
        write(json.dumps([asdict(s) for s in states], indent=2, default=str))
        return
    title = f"sending mailboxes; guardrail counts over the last {window}"
    table = Table("mailbox / sequence", "state", "cap today", "sent today", *_GUARD, title=title)
    for state in states:
        cap = caps.get(state.name)
        table.add_row(
            cell(state.name if state.scope == "mailbox" else f"sequence {state.name}"),
            _state(state),
            "-" if cap is None or cap.cap_today is None else str(cap.cap_today),
            "-" if cap is None else str(cap.sent_today),
            *_figures(state),
        )
    console.print(table)


_GUARD = ("sends", "hard bounces", "complaints")


def _state(state: GuardState) -> Text:
    if state.paused_at is None:
        return Text("active")
    since = f" since {state.paused_at:%Y-%m-%d %H:%M} UTC: {clean(state.reason)}"
    return Text.assemble(("paused", "red"), since)


def _figures(state: GuardState) -> tuple[str, str, str]:
    def rate(count: int) -> str:
        return f"{count} ({count / state.sends:.1%})" if state.sends else str(count)

    return str(state.sends), rate(state.bounces), rate(state.complaints)


@app.command("resume")
def resume(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="a mailbox address, or a sequence name")],
) -> None:
    """Resume a mailbox or sequence the guardrails paused: its held touches go out again, and
    its counts start afresh from now."""
    with cli_context(ctx).runtime() as rt:
        with transaction(rt.engine) as session:
            released = resume_sending(session, name, now=rt.clock.now())
        if released is None:
            with reading(rt.engine) as session:
                paused = [p.name for p in current_pauses(session)]
            fail(f"nothing paused is named {name!r} (paused now: {', '.join(paused) or 'none'})")
    console.print(f"resumed {name}: {released} held touch(es) released", highlight=False)
