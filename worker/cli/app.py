"""The Typer application and the wrapper that turns known errors into one line and an exit code."""

from __future__ import annotations

import logging

import click
import typer
from sqlalchemy.exc import OperationalError

from worker.cli import (
    api_cmd,
    compliance_cmd,
    events_cmd,
    leads_cmd,
    processes_cmd,
    sequences_cmd,
    sla_cmd,
    status_cmd,
    tasks_cmd,
)
from worker.cli.common import CliError, err_console
from worker.cli.safe_text import labelled

app = typer.Typer(
    name="followup",
    help="Follow-up email sequences for leads, with SLA compliance counts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
processes_cmd.register(app)
app.add_typer(sequences_cmd.app, name="sequences")
app.add_typer(events_cmd.app, name="events")
app.add_typer(compliance_cmd.app, name="compliance")
app.add_typer(sla_cmd.app, name="sla")
status_cmd.register(app)
app.add_typer(leads_cmd.app, name="leads")
api_cmd.register(app)
app.add_typer(tasks_cmd.tasks_app, name="tasks")
app.add_typer(tasks_cmd.enrollments_app, name="enrollments")


def run_cli(argv: list[str]) -> int:
    """Run a command; user mistakes print one line, never a traceback."""
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="followup", standalone_mode=False)
    except CliError as exc:
        err_console.print(labelled("error:", exc), highlight=False, soft_wrap=True)
        return exc.code
    except (click.exceptions.Abort, typer.Abort):
        return 130
    except (click.exceptions.Exit, typer.Exit) as exc:
        return int(exc.exit_code)
    except (click.ClickException, typer.TyperException) as exc:  # typer 0.2x has its own click
        return _usage_error(exc)
    except OperationalError as exc:
        reason = str(exc.orig).splitlines()[0] if exc.orig else str(exc).splitlines()[0]
        err_console.print(
            labelled("error:", f"database: {reason}"), highlight=False, soft_wrap=True
        )
        return 2
    return int(result) if isinstance(result, int) else 0


def _usage_error(exc: Exception) -> int:
    """Bad usage in one line (the help itself when a group was called without a command)."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        exc.show()  # type: ignore[attr-defined]  # click's UsageError: prints the help
        return 2
    message = getattr(exc, "format_message", lambda: str(exc))()
    err_console.print(labelled("error:", message), highlight=False, soft_wrap=True)
    return 2
