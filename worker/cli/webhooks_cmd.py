"""`followup webhooks list|retry`: the outbound deliveries, and re-driving the dead ones."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from models.notification import DeliveryStatus
from worker.cli.common import choice, console, fail, write
from worker.cli.context import cli_context
from worker.engine.db import reading, transaction
from worker.notify.webhook_delivery import delivery_counts, list_deliveries, redrive

app = typer.Typer(help="Outbound webhook deliveries (team.yaml webhooks:).", no_args_is_help=True)
STATUSES = tuple(s.value for s in DeliveryStatus)


@app.command("list")
def list_command(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="|".join(STATUSES))] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="newest first")] = 50,
    fmt: Annotated[str, typer.Option("--format", help="table|json")] = "table",
) -> None:
    """Deliveries with their attempts, next try and last error; counts by status."""
    choice(fmt, ("table", "json"), "--format")
    if status is not None:
        choice(status, STATUSES, "--status")
    with cli_context(ctx).runtime() as rt, reading(rt.engine) as session:
        rows = list_deliveries(session, status=status, limit=limit)
        counts = delivery_counts(session)
    if fmt == "json":
        items = [r.model_dump(mode="json", exclude={"body"}) for r in rows]
        write(json.dumps({"counts": counts, "deliveries": items}, indent=2))
        return
    table = Table(
        "id", "event", "type", "webhook", "status", "tries", "next / done (UTC)", "last error"
    )
    for row in rows:
        when = row.delivered_at if row.status == DeliveryStatus.DELIVERED else row.due_at
        table.add_row(
            str(row.id),
            row.event_id,
            row.type,
            row.webhook,
            row.status,
            str(row.attempts),
            f"{when:%Y-%m-%d %H:%M:%S}" if when else "",
            row.last_error or "",
        )
    console.print(table)
    console.print(
        ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no deliveries", highlight=False
    )


@app.command("retry")
def retry(
    ctx: typer.Context,
    ids: Annotated[list[int] | None, typer.Argument(help="delivery ids (from `list`)")] = None,
    dead: Annotated[bool, typer.Option("--dead", help="every dead delivery")] = False,
) -> None:
    """Send again now, with a fresh day of retries: same event id, same body."""
    if not ids and not dead:
        fail("name delivery ids, or --dead for every dead one")
    with cli_context(ctx).runtime() as rt, transaction(rt.engine) as session:
        count = redrive(session, ids=ids or [], dead=dead, now=rt.clock.now())
    console.print(
        f"re-driven: {count} delivery(ies); the notifier sends them within a tick", highlight=False
    )
