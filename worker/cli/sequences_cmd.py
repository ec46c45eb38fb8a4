"""`followup sequences check|list|preview`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlmodel import Session, select

from models.lead import Lead
from worker.cli.common import (
    EXIT_FOUND_ERRORS,
    console,
    fail,
    parse_when,
    print_catalog_errors,
    settings,
)
from worker.engine.clock import SystemClock
from worker.engine.db import make_engine
from worker.specs.catalog import SAMPLE_LEAD, CatalogError, load_catalog
from worker.specs.preview import preview_deadlines, preview_timeline
from worker.specs.rendering import Renderer

app = typer.Typer(help="Validate, list and preview sequences.", no_args_is_help=True)


def _catalog():  # type: ignore[no-untyped-def]  # returns (settings, renderer, catalog)
    config = settings()
    if not config.sequences_dir.is_dir():
        fail(f"sequences folder {config.sequences_dir} not found (set FOLLOWUP_SEQUENCES_DIR)")
    renderer = Renderer(config.templates_dir)
    try:
        return config, renderer, load_catalog(config.sequences_dir, renderer, config.environment)
    except CatalogError as exc:
        print_catalog_errors(exc)
        fail(f"{len(exc.errors)} problem(s) in {config.sequences_dir}", EXIT_FOUND_ERRORS)


@app.command("check")
def check() -> None:
    """Validate every sequence, team.yaml and template (rendered on sample data); 1 on errors."""
    config, _, catalog = _catalog()
    steps = sum(len(s.steps) for s in catalog.sequences.values())
    console.print(
        f"ok: {len(catalog.sequences)} sequence(s), {steps} step(s), "
        f"{len(catalog.team.owners)} owner(s) in {config.sequences_dir}",
        highlight=False,
    )


@app.command("list")
def list_sequences() -> None:
    """The loaded sequences: triggers, steps, SLA."""
    _, _, catalog = _catalog()
    table = Table("name", "trigger", "exit on", "steps", "sla", "version")
    for spec in catalog.sequences.values():
        sla = spec.sla
        sla_text = (
            ""
            if sla is None
            else " / ".join(
                part
                for part in (
                    f"first {sla.first_touch_within}" if sla.first_touch_within else "",
                    f"{sla.min_touches} in {sla.within}" if sla.min_touches else "",
                )
                if part
            )
        )
        table.add_row(
            spec.name,
            ", ".join(spec.trigger),
            ", ".join(spec.exit_on),
            str(len(spec.steps)),
            sla_text,
            spec.version[:12],
        )
    console.print(table)


@app.command("preview")
def preview(
    name: Annotated[str, typer.Argument(help="sequence name")],
    email: Annotated[str | None, typer.Option(help="preview for this stored lead")] = None,
    start: Annotated[str | None, typer.Option(help="enrollment time (ISO), default now")] = None,
) -> None:
    """The timeline of touches a lead would get, in the lead's local time and UTC."""
    config, renderer, catalog = _catalog()
    spec = catalog.sequences.get(name)
    if spec is None:
        fail(f"no sequence named {name!r} (known: {', '.join(catalog.sequences) or 'none'})")
    lead = dict(SAMPLE_LEAD)
    if email:
        with Session(make_engine(config.database_url)) as session:
            row = session.exec(select(Lead).where(Lead.email == email.strip().lower())).first()
        if row is None:
            fail(f"no lead with email {email!r}")
        lead = row.template_context()
    when = parse_when(start, "--start") or SystemClock().now()
    table = Table(
        "step", "kind", "local time", "UTC", "subject", title=f"{name} for {lead['email']}"
    )
    timeline = preview_timeline(spec, lead=lead, start=when, renderer=renderer, team=catalog.team)
    for item in timeline:
        table.add_row(
            item.step,
            item.kind,
            item.due_local.strftime("%a %Y-%m-%d %H:%M %Z"),
            item.due_utc.strftime("%Y-%m-%d %H:%M"),
            item.subject,
        )
    console.print(table)
    for due in preview_deadlines(spec, lead=lead, start=when, team=catalog.team, timeline=timeline):
        verdict = (
            "[green]met by this plan[/green]"
            if due.met_by_plan
            else "[red]missed by this plan[/red]"
        )
        clock = due.clock.replace("_", " ")
        console.print(
            f"SLA {due.name} by {due.due_local:%a %Y-%m-%d %H:%M %Z} "
            f"({due.due_utc:%Y-%m-%d %H:%M} UTC, {clock} clock); "
            f"at risk from {due.at_risk_utc:%Y-%m-%d %H:%M} UTC; {verdict}",
            highlight=False,
        )
