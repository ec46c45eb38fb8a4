"""The Typer application and the wrapper that turns known errors into one line and an exit code."""

from __future__ import annotations

import typer
from sqlalchemy.exc import OperationalError

from worker.cli import (
    api_cmd,
    at_risk_cmd,
    compliance_cmd,
    db_cmd,
    dkim_cmd,
    events_cmd,
    inbox_cmd,
    leads_cmd,
    mailboxes_cmd,
    processes_cmd,
    promote_cmd,
    sequences_cmd,
    sla_cmd,
    status_cmd,
    tasks_cmd,
    touches_cmd,
    webhooks_cmd,
)
from worker.cli.common import EXIT_USAGE, CliError, err_console
from worker.cli.context import CliContext
from worker.cli.safe_text import labelled
from worker.engine.logs import configure_logging, redact
from worker.engine.settings import environment_secrets

app = typer.Typer(
    name="followup",
    help="Follow-up email sequences for leads, with SLA compliance counts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
processes_cmd.register(app)
app.add_typer(sequences_cmd.app, name="sequences")
promote_cmd.register(sequences_cmd.app)
app.add_typer(events_cmd.app, name="events")
app.add_typer(compliance_cmd.app, name="compliance")
app.add_typer(sla_cmd.app, name="sla")
at_risk_cmd.register(sla_cmd.app)
app.add_typer(webhooks_cmd.app, name="webhooks")
status_cmd.register(app)
app.add_typer(leads_cmd.app, name="leads")
app.add_typer(mailboxes_cmd.app, name="mailboxes")
app.add_typer(dkim_cmd.app, name="dkim")
api_cmd.register(app)
app.add_typer(tasks_cmd.tasks_app, name="tasks")
app.add_typer(tasks_cmd.enrollments_app, name="enrollments")
app.add_typer(inbox_cmd.app, name="inbox")
app.add_typer(db_cmd.app, name="db")
app.add_typer(touches_cmd.app, name="touches")


def run_cli(argv: list[str], context: CliContext | None = None) -> int:
    """Run a command; user mistakes print one line, never a traceback.

    `context` is the commands' one injection point (settings, clock, runtime factory); by
    default they read the environment and run on the system clock.
    """
    configure_logging(secrets=environment_secrets())  # the format follows once settings load
    command = typer.main.get_command(app)
    try:
        result = command.main(
            args=argv, prog_name="followup", standalone_mode=False, obj=context or CliContext()
        )
    except CliError as exc:
        _print_error(str(exc))
        return exc.code
    except typer.Abort:
        return 130
    except typer.TyperException as exc:  # typer vendors click: its usage errors derive from this
        _print_usage_error(exc.format_message())
        return EXIT_USAGE
    except typer.Exit as exc:
        return int(exc.exit_code)
    except OperationalError as exc:
        reason = str(exc.orig).splitlines()[0] if exc.orig else str(exc).splitlines()[0]
        _print_error(f"database: {reason}")
        return 2
    return int(result) if isinstance(result, int) else 0


def _print_usage_error(message: str) -> None:
    """One line; a group run without a command gets its help (Rich has printed it already)."""
    if "\n" in message.strip():
        err_console.print(redact(message.rstrip()), highlight=False, markup=False)
    elif message.strip():
        _print_error(message)


def _print_error(message: str) -> None:
    """One line on stderr, plain text (never markup), with any secret the message carries masked."""
    err_console.print(labelled("error:", redact(message)), highlight=False, soft_wrap=True)
