"""`followup events send TYPE --email X [--field k=v ...]`."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

from models.event import EventIn
from models.lead import PROFILE_COLUMNS
from models.validation import FieldsTooLarge
from worker.cli.common import console, fail, parse_when
from worker.cli.context import cli_context
from worker.cli.safe_text import clean
from worker.engine.db import transaction
from worker.flow.events import EventOutcome, apply_event, record_event
from worker.flow.leads import check_fields_fit
from worker.specs.validation_errors import one_line

app = typer.Typer(help="Send lead events.", no_args_is_help=True)


@app.command("send")
def send(
    ctx: typer.Context,
    event_type: Annotated[str, typer.Argument(metavar="TYPE", help="e.g. lead.mql, email.replied")],
    email: Annotated[str, typer.Option(help="the lead's email address")],
    field: Annotated[
        list[str] | None, typer.Option(help="k=v: a lead column or custom field")
    ] = None,
    event_id: Annotated[str | None, typer.Option("--id", help="idempotency key")] = None,
    step: Annotated[str | None, typer.Option(help="task.completed: the step id")] = None,
    sequence: Annotated[str | None, typer.Option(help="task.completed: the sequence")] = None,
    detail: Annotated[str | None, typer.Option(help="touch.logged: what was done")] = None,
    occurred_at: Annotated[str | None, typer.Option(help="ISO time, default now")] = None,
) -> None:
    """Record an event and carry it out now: upsert the lead, enroll, exit, suppress, complete."""
    event = _event(
        {
            "type": event_type,
            "lead": _lead(email, field or []),
            "id": event_id,
            "step": step,
            "sequence": sequence,
            "detail": detail,
            "occurred_at": parse_when(occurred_at, "--occurred-at"),
        }
    )
    with cli_context(ctx).runtime() as rt, transaction(rt.engine) as session:
        now = rt.clock.now()
        try:
            check_fields_fit(session, event.lead)
        except FieldsTooLarge as exc:
            fail(f"--field: {exc}")
        row, created = record_event(session, event, now=now)
        outcome = apply_event(session, row, catalog=rt.catalog, versions=rt.versions, now=now)
    if not created or outcome.duplicate:
        console.print(
            clean(f"duplicate: event {event_id!r} was already received; nothing done"),
            highlight=False,
            markup=False,
        )
        return
    console.print(clean(_summary(event, outcome)), highlight=False, markup=False)


def _lead(email: str, fields: list[str]) -> dict[str, object]:
    """--email and each --field k=v: a lead column, else a custom field."""
    lead: dict[str, object] = {"email": email}
    custom: dict[str, str] = {}
    for item in fields:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"--field {item!r}: use key=value")
        (lead if key.strip() in PROFILE_COLUMNS else custom)[key.strip()] = value
    return {**lead, "fields": custom}


def _event(data: dict[str, object]) -> EventIn:
    try:
        return EventIn.model_validate(data)
    except ValidationError as exc:
        fail(one_line(exc))


def _summary(event: EventIn, outcome: EventOutcome) -> str:
    parts = [f"event {event.type} for {event.lead.email} recorded"]
    if outcome.enrolled:
        parts.append(f"enrolled in {', '.join(outcome.enrolled)}")
    if outcome.exited:
        parts.append(f"exited {', '.join(outcome.exited)}")
    if outcome.suppressed:
        parts.append("address suppressed")
    if outcome.completed_tasks:
        parts.append(f"{outcome.completed_tasks} task(s) completed")
    parts += [f"not enrolled in {why}" for why in outcome.ignored]
    return "; ".join(parts)
