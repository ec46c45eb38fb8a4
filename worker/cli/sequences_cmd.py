"""`followup sequences check|list|preview`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import select

from models.lead import Lead
from worker.cli.check_report import check_leads, print_warnings
from worker.cli.common import EXIT_FOUND_ERRORS, console, err_console, fail, parse_when
from worker.cli.context import CliContext, cli_context
from worker.cli.safe_text import cell
from worker.engine.db import make_engine, reading
from worker.engine.settings import Settings
from worker.engine.tunables import LEAD_CHECK_SAMPLE
from worker.flow.owners import owners_not_allowed, unknown_owner_warning
from worker.specs.catalog import Catalog
from worker.specs.dkim import unsigned_default_from
from worker.specs.preview import PlannedDeadline, preview_deadlines, preview_timeline
from worker.specs.sequences import SequenceSpec
from worker.specs.sparse_lead import sparse_lead_warnings
from worker.specs.team import TeamSpec
from worker.specs.template_checks import SAMPLE_LEAD, SAMPLE_SENDER

app = typer.Typer(help="Validate, list and preview sequences.", no_args_is_help=True)


@app.command("check")
def check(
    ctx: typer.Context,
    strict: Annotated[bool, typer.Option("--strict", help="warnings are errors (exit 1)")] = False,
    leads: Annotated[
        bool, typer.Option("--leads", help="also render for the stored leads enrolled or waiting")
    ] = False,
    sample: Annotated[
        int, typer.Option(min=1, help="with --leads: at most this many leads per sequence")
    ] = LEAD_CHECK_SAMPLE,
) -> None:
    """Validate every sequence, team.yaml and template (rendered on a full sample lead), warn
    of names a lead with only an email lacks; 1 on errors."""
    cli = cli_context(ctx)
    loaded = cli.catalog()
    catalog, config = loaded.catalog, loaded.settings
    unsigned = unsigned_default_from(config.default_from, catalog)
    warnings = [
        *catalog.warnings,
        *sparse_lead_warnings(catalog, loaded.renderer, default_from=config.default_from),
        *([unsigned] if unsigned else []),
    ]
    print_warnings(warnings)
    refused = strict and bool(warnings)
    if not refused:
        _print_summary(catalog, config.sequences_dir, len(warnings))
        for line in _stored_owner_warnings(config, catalog.team):
            err_console.print(line, highlight=False, markup=False, soft_wrap=True)
    problems = [f"{len(warnings)} warning(s), which --strict makes errors"] if refused else []
    failing = check_leads(cli, sample) if leads else 0
    if failing:
        problems.append(
            f"{failing} stored lead(s) would fail to render: fix the template or the leads' "
            f"data before their step is due"
        )
    if problems:
        fail("; ".join(problems), EXIT_FOUND_ERRORS)


def _print_summary(catalog: Catalog, folder: Path, warnings: int) -> None:
    steps = sum(len(s.steps) for s in catalog.sequences.values())
    noted = f"; {warnings} warning(s)" if warnings else ""
    console.print(
        f"ok: {len(catalog.sequences)} sequence(s), {steps} step(s), "
        f"{len(catalog.team.owners)} owner(s) in {folder}{noted}",
        highlight=False,
    )


def _stored_owner_warnings(config: Settings, team: TeamSpec) -> list[str]:
    """Best effort: open enrollments in an existing database whose owner may not be the From."""
    url = make_url(config.database_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        return []  # no database yet: nothing stored to check (and none is created)
    engine = make_engine(config.database_url, connect_timeout=5)
    try:
        with reading(engine) as session:
            found = owners_not_allowed(session, team)
    except SQLAlchemyError:
        return []  # not reachable, or not created yet: the files were checked all the same
    finally:
        engine.dispose()
    return [unknown_owner_warning(o, n, "open enrollment(s)") for o, n in sorted(found.items())]


@app.command("list")
def list_sequences(ctx: typer.Context) -> None:
    """The loaded sequences: triggers, steps, SLA."""
    catalog = cli_context(ctx).catalog().catalog
    table = Table("name", "trigger", "exit on", "steps", "sla", "version")
    for spec in catalog.sequences.values():
        table.add_row(
            cell(spec.name),
            cell(", ".join(spec.trigger)),
            cell(", ".join(spec.exit_on)),
            str(len(spec.steps)),
            _sla_text(spec),
            spec.version[:12],
        )
    console.print(table)


def _sla_text(spec: SequenceSpec) -> str:
    sla = spec.sla
    if sla is None:
        return ""
    parts = (
        f"first {sla.first_touch_within}" if sla.first_touch_within else "",
        f"{sla.min_touches} in {sla.within}" if sla.min_touches else "",
    )
    clock = " (business hours)" if sla.clock == "business_hours" else ""
    return " / ".join(part for part in parts if part) + clock


@app.command("preview")
def preview(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="sequence name")],
    email: Annotated[str | None, typer.Option(help="preview for this stored lead")] = None,
    start: Annotated[str | None, typer.Option(help="enrollment time (ISO), default now")] = None,
) -> None:
    """The timeline of touches a lead would get, in the lead's local time and UTC."""
    cli = cli_context(ctx)
    loaded = cli.catalog()
    spec = loaded.sequence(name)
    lead = _stored_lead(cli, email) if email else dict(SAMPLE_LEAD)
    default_from = loaded.settings.default_from or (None if email else SAMPLE_SENDER)
    when: datetime = parse_when(start, "--start") or cli.clock.now()
    title = cell(f"{name} for {lead['email']}")
    table = Table("step", "kind", "local time", "UTC", "subject", title=title)
    timeline = preview_timeline(
        spec,
        lead=lead,
        start=when,
        renderer=loaded.renderer,
        team=loaded.catalog.team,
        default_from=default_from,
    )
    for item in timeline:
        table.add_row(
            cell(item.step),
            item.kind,
            item.due_local.strftime("%a %Y-%m-%d %H:%M %Z"),
            item.due_utc.strftime("%Y-%m-%d %H:%M"),
            cell(item.subject),
        )
    console.print(table)
    deadlines = preview_deadlines(
        spec, lead=lead, start=when, team=loaded.catalog.team, timeline=timeline
    )
    _print_deadlines(deadlines)


def _print_deadlines(deadlines: list[PlannedDeadline]) -> None:
    """Each SLA deadline on the sequence's clock, and whether the timeline keeps it."""
    for due in deadlines:
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


def _stored_lead(cli: CliContext, email: str) -> dict[str, Any]:
    with cli.reading() as session:
        row = session.exec(select(Lead).where(Lead.email == email.strip().lower())).first()
        if row is None:
            fail(f"no lead with email {email!r}")
        return row.template_context()
