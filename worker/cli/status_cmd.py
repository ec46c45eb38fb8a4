"""`followup status`: touches by status, backlog, lag, queues, and whether DB/Redis/SMTP answer."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from worker.cli.common import choice, console, write
from worker.cli.context import cli_context
from worker.cli.safe_text import clean
from worker.engine.status import Status, collect_status
from worker.inbox.mailbox_status import MailboxState
from worker.inbox.providers import PROVIDERS


def register(app: typer.Typer) -> None:
    app.command("status")(status)


def status(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", help="table|json")] = "table",
) -> None:
    """Touches by status (deferred included), due backlog, scheduler lag, queues, service health."""
    choice(fmt, ("table", "json"), "--format")
    with cli_context(ctx).runtime() as rt:
        result = collect_status(rt)
    if fmt == "json":
        write(json.dumps(asdict(result), indent=2))
    else:
        _print_status(result)


def _print_status(result: Status) -> None:
    table = Table("touch status", "count")
    for name, count in result.touches.items():
        table.add_row(name, str(count))
    console.print(table)
    lag = result.scheduler_lag_seconds
    console.print(
        f"due backlog: {result.due_backlog}   scheduler lag: "
        f"{'-' if lag is None else f'{lag:.0f}s'}",
        highlight=False,
    )
    console.print(
        "enrollments: " + ", ".join(f"{k} {v}" for k, v in sorted(result.enrollments.items())),
        highlight=False,
    )
    for name, count in result.orphaned_sequences.items():
        console.print(
            f"[yellow]sequence {name!r} is no longer in the folder; {count} enrollment(s) "
            f"still run its pinned version[/yellow]",
            highlight=False,
        )
    print_notify_sections(result)
    _print_render_failures(result)
    _print_trouble(result)
    if result.queue_depth is not None:
        console.print(
            f"queue depth: {result.queue_depth}   dead letters: {result.dead_letters}",
            highlight=False,
        )
    _print_mailboxes(result.mailboxes)
    _print_sending(result)
    for service, state in result.services.items():
        colour = (
            "green" if state == "ok" else "yellow" if state.startswith("not configured") else "red"
        )
        console.print(Text.assemble(f"{service}: ", (clean(state), colour)), highlight=False)


def print_notify_sections(result: Status) -> None:
    """Leads at risk now (per rep), SLA alerts and webhook deliveries by status."""
    at_risk = sum(result.at_risk.values())
    reps = ", ".join(f"{rep} {n}" for rep, n in sorted(result.at_risk.items()))
    console.print(f"at risk: {at_risk}" + (f" ({reps})" if reps else ""), highlight=False)
    for name, counts in (("alerts", result.alerts), ("webhooks", result.webhooks)):
        words = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"
        colour = "red" if counts.get("dead") or counts.get("failed") else "default"
        console.print(f"{name}: [{colour}]{words}[/{colour}]", highlight=False)


def _print_render_failures(result: Status) -> None:
    """How many touches failed to render for their lead, and the latest few (plain text)."""
    if not result.render_failures:
        return
    console.print(
        Text(
            f"render failures: {result.render_failures} touch(es) failed because a template "
            f"did not render for their lead (latest first):",
            style="red",
        )
    )
    for failure in result.latest_render_failures:
        console.print(
            Text(f"  {failure['at']} {failure['sequence']}/{failure['step']}: {failure['detail']}"),
            soft_wrap=True,
        )


def _print_trouble(result: Status) -> None:
    """What went wrong with lost work: dead events (red when any, the latest listed)."""
    colour = "red" if result.dead_events else "default"
    console.print(f"dead events: [{colour}]{result.dead_events}[/{colour}]", highlight=False)
    for line in result.latest_dead_events:  # the error's words: text, never markup
        console.print(Text(clean(f"  {line}")), highlight=False, soft_wrap=True)


def _print_mailboxes(mailboxes: list[MailboxState]) -> None:
    """One line per watched mailbox or webhook provider: fetch, lag, outcomes, errors."""
    for box in mailboxes:
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(box.outcomes.items())) or "no messages"
        if not box.watched:
            lag = "webhook events" if box.mailbox in PROVIDERS else "no longer watched"
        elif box.lag_seconds is None:
            lag = "never fetched"
        else:
            lag = f"last fetch {box.last_fetch_at}, lag {box.lag_seconds:.0f}s"
        line = Text(clean(f"inbox {box.mailbox}: {lag}; {outcomes}"))
        if box.errors:  # the server's words: shown as text, never as markup
            line.append(clean(f"; {box.errors} failed fetch(es): {box.last_error}"), "red")
        console.print(line, highlight=False, soft_wrap=True)


def _print_sending(result: Status) -> None:
    """What the guardrails paused, each counted mailbox's cap today (the ramp's while it warms
    up) and each throttle."""
    for pause in result.paused:
        console.print(
            Text.assemble(
                (f"paused {pause.scope} {pause.name}", "red"),
                clean(
                    f" since {pause.paused_at:%Y-%m-%d %H:%M} UTC by the guardrails: "
                    f"{pause.reason}; `followup mailboxes resume {pause.name}` releases its touches"
                ),
            ),
            highlight=False,
            soft_wrap=True,
        )
    if result.sending:
        table = Table("mailbox", "cap today", "sent today", "this hour", title="sending")
        for box in result.sending:
            cap = "-" if box.cap_today is None else str(box.cap_today)
            if box.ramp_day is not None and box.cap_today != box.daily_limit:
                cap += f" (ramp day {box.ramp_day}, up to {box.daily_limit})"
            hourly = _used(box.sent_this_hour, box.hourly_limit)
            table.add_row(box.address, cap, str(box.sent_today), hourly)
        console.print(table)
    if result.throttles:
        table = Table("recipient domains", "this hour", "today", title="throttles")
        for throttle in result.throttles:
            table.add_row(
                ", ".join(throttle.domains),
                _used(throttle.sent_this_hour, throttle.hourly_limit),
                _used(throttle.sent_today, throttle.daily_limit),
            )
        console.print(table)


def _used(used: int, limit: int | None) -> str:
    return f"{used}/{limit}" if limit is not None else str(used)
