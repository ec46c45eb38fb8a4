"""`followup tasks list` and `followup enrollments pause|resume`: the owner-facing controls."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from worker.cli.common import console, fail
from worker.cli.context import cli_context
from worker.cli.safe_text import cell
from worker.engine.db import reading, transaction
from worker.flow.manual_tasks import open_tasks
from worker.flow.pausing import Selection, pause, resume

tasks_app = typer.Typer(help="Manual tasks waiting for their owners.", no_args_is_help=True)
enrollments_app = typer.Typer(help="Pause and resume enrollments.", no_args_is_help=True)

EmailOption = Annotated[str | None, typer.Option(help="one lead")]
OwnerOption = Annotated[str | None, typer.Option(help="every lead of this owner")]
SequenceOption = Annotated[str | None, typer.Option(help="every lead in this sequence")]


@tasks_app.command("list")
def list_tasks(ctx: typer.Context, owner: OwnerOption = None) -> None:
    """Open manual tasks, due first; complete one with `events send task.completed --step ID`."""
    with cli_context(ctx).runtime() as rt, reading(rt.engine) as session:
        tasks = open_tasks(
            session, versions=rt.versions, team=rt.catalog.team, owner=owner, now=rt.clock.now()
        )
    table = Table("due (UTC)", "owner", "lead", "sequence", "step", "task", "skipped after")
    for task in tasks:
        table.add_row(
            f"{task.due_at:%Y-%m-%d %H:%M}",
            cell(task.owner),
            cell(task.lead_email),
            cell(task.sequence),
            cell(task.step),
            cell(task.text),
            f"{task.expires_at:%Y-%m-%d %H:%M}" if task.expires_at else "",
        )
    console.print(table)
    console.print(f"{len(tasks)} open task(s)", highlight=False)


def _selection(email: str | None, owner: str | None, sequence: str | None) -> Selection:
    try:
        return Selection(email=email, owner=owner, sequence=sequence)
    except ValueError as exc:
        fail(str(exc))


@enrollments_app.command("pause")
def pause_command(
    ctx: typer.Context,
    email: EmailOption = None,
    owner: OwnerOption = None,
    sequence: SequenceOption = None,
) -> None:
    """Hold the touches of matching active enrollments (their schedule is kept)."""
    selection = _selection(email, owner, sequence)
    with cli_context(ctx).runtime() as rt, transaction(rt.engine) as session:
        count = pause(session, selection, now=rt.clock.now())
    console.print(f"paused {count} enrollment(s)", highlight=False)


@enrollments_app.command("resume")
def resume_command(
    ctx: typer.Context,
    email: EmailOption = None,
    owner: OwnerOption = None,
    sequence: SequenceOption = None,
) -> None:
    """Resume paused enrollments: each touch keeps its remaining wait, then its next window."""
    selection = _selection(email, owner, sequence)
    with cli_context(ctx).runtime() as rt, transaction(rt.engine) as session:
        count = resume(session, selection, now=rt.clock.now(), versions=rt.versions)
    console.print(f"resumed {count} enrollment(s)", highlight=False)
