"""`followup sla at-risk [--owner X]`: the leads whose SLA is at risk now, with the time left."""

from __future__ import annotations

import json
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from worker.cli.common import choice, console, write
from worker.cli.context import cli_context
from worker.compliance.at_risk import at_risk_leads
from worker.engine.db import reading
from worker.notify.alerts import local_words, span_words

UTC_ZONE = ZoneInfo("UTC")


def register(sla_app: typer.Typer) -> None:
    sla_app.command("at-risk")(at_risk)


def at_risk(
    ctx: typer.Context,
    owner: Annotated[str | None, typer.Option(help="only the leads this rep works")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table|json")] = "table",
) -> None:
    """Leads past their at-risk share (alerts.at_risk_after) with a deadline still unmet."""
    choice(fmt, ("table", "json"), "--format")
    with cli_context(ctx).runtime() as rt, reading(rt.engine) as session:
        leads = at_risk_leads(
            session, team=rt.catalog.team, versions=rt.versions, now=rt.clock.now(), owner=owner
        )
    if fmt == "json":
        write(json.dumps([item.as_dict() for item in leads], indent=2))
        return
    table = Table("lead", "owner", "sequence", "deadline", "due (UTC)", "left", "working time left")
    for item in leads:
        what = "first touch" if item.deadline == "first_touch" else f"{item.min_touches} touches"
        table.add_row(
            item.lead,
            item.owner or "",
            item.sequence,
            f"{what} ({item.touches} done)",
            local_words(item.due_at, UTC_ZONE),
            span_words(item.left),
            span_words(item.working_left) if item.clock == "business_hours" else "-",
        )
    console.print(table)
    console.print(f"{len(leads)} lead(s) at risk", highlight=False)
