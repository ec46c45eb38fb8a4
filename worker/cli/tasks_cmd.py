"""`followup tasks list` and `followup enrollments pause|resume`: the owner-facing controls."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from worker.cli.common import console, fail
from worker.cli.context import cli_context
from worker.cli.safe_text import cell, clean
from worker.engine.db import reading, transaction
from worker.flow.manual_tasks import OpenTask, open_tasks
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
        tasks = open_tasks(session, rt, owner=owner)
    table = Table("due (UTC)", "owner", "lead", "sequence", "step", "task", "skipped after")
    for task in tasks:
        table.add_row(
            f"{task.due_at:%Y-%m-%d %H:%M}",
            cell(task.owner),
            cell(task.lead_email),
            cell(task.sequence),
            cell(task.step),
            _task_cell(task),
            f"{task.expires_at:%Y-%m-%d %H:%M}" if task.expires_at else "",
        )
    console.print(table)
    console.print(f"{len(tasks)} open task(s)", highlight=False)
    broken = sum(1 for task in tasks if task.render_error)
    if broken:
        console.print(
            f"{broken} task text(s) do not render for their lead: shown raw, with the reason",
            style="yellow",
            highlight=False,
        )


def _task_cell(task: OpenTask) -> Text:
    """The rendered text, or the raw text and why it does not render (as text, not markup)."""
    if task.render_error is None:
        return cell(task.text)
    reason = (f"cannot render: {clean(task.render_error)}", "yellow")
    return Text.assemble(clean(task.text), "\n", reason)


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
