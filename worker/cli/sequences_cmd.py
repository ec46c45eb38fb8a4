"""`followup sequences check|list|preview`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from models.lead import Lead
from worker.cli.common import (
    EXIT_FOUND_ERRORS,
    console,
    err_console,
    fail,
    parse_when,
    print_catalog_errors,
    settings,
)
from worker.cli.safe_text import cell
from worker.engine.clock import SystemClock
from worker.engine.db import make_engine, reading
from worker.engine.settings import Settings
from worker.flow.owners import owners_not_allowed, unknown_owner_warning
from worker.specs.catalog import SAMPLE_LEAD, CatalogError, load_catalog
from worker.specs.preview import preview_timeline
from worker.specs.rendering import Renderer
from worker.specs.team import TeamSpec

app = typer.Typer(help="Validate, list and preview sequences.", no_args_is_help=True)


def _catalog():  # type: ignore[no-untyped-def]  # returns (settings, renderer, catalog)
    config = settings()
    if not config.sequences_dir.is_dir():
        fail(f"sequences folder {config.sequences_dir} not found (set FOLLOWUP_SEQUENCES_DIR)")
    renderer = Renderer(config.templates_dir)
    try:
        return config, renderer, load_catalog(config.sequences_dir, renderer)
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
    for line in _stored_owner_warnings(config, catalog.team):
        err_console.print(line, highlight=False, markup=False, soft_wrap=True)


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
            cell(spec.name),
            cell(", ".join(spec.trigger)),
            cell(", ".join(spec.exit_on)),
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
        "step", "kind", "local time", "UTC", "subject", title=cell(f"{name} for {lead['email']}")
    )
    for item in preview_timeline(spec, lead=lead, start=when, renderer=renderer, team=catalog.team):
        table.add_row(
            cell(item.step),
            item.kind,
            item.due_local.strftime("%a %Y-%m-%d %H:%M %Z"),
            item.due_utc.strftime("%Y-%m-%d %H:%M"),
            cell(item.subject),
        )
    console.print(table)
