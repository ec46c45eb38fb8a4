"""`followup sla plan`: the marketing SLA from the four metrics, with the reps' capacity check."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from worker.cli.common import choice, console, fail, write
from worker.cli.context import cli_context
from worker.compliance.clock_check import ClockCheck, clock_check
from worker.compliance.plan import CapacityCheck, PlanResult, plan_sla, promised_attempts
from worker.specs.catalog import Catalog
from worker.specs.team import SlaPlan
from worker.specs.validation_errors import one_line

app = typer.Typer(help="The marketing-to-sales SLA plan.", no_args_is_help=True)
REQUIRED = ("revenue_goal", "marketing_share", "average_deal_size", "close_rate")


def _merged_plan(catalog: Catalog, overrides: dict[str, Any]) -> SlaPlan:
    """team.yaml's sla_plan with every given flag on top, validated like the file."""
    base = catalog.team.sla_plan.model_dump() if catalog.team.sla_plan else {}
    values = {**base, **{k: v for k, v in overrides.items() if v is not None}}
    missing = [name for name in REQUIRED if name not in values]
    if missing:
        flags = ", ".join(f"--{name.replace('_', '-')}" for name in missing)
        fail(f"sla plan: no {', '.join(missing)}; set sla_plan in team.yaml or pass {flags}")
    try:
        return SlaPlan.model_validate(values)
    except ValidationError as exc:
        fail(f"sla plan: {one_line(exc)}")


@app.command("plan")
def plan(
    ctx: typer.Context,
    revenue_goal: Annotated[float | None, typer.Option(help="revenue goal per period")] = None,
    period: Annotated[str | None, typer.Option(help="month|quarter")] = None,
    marketing_share: Annotated[float | None, typer.Option(help="share from marketing, 0-1")] = None,
    average_deal_size: Annotated[float | None, typer.Option(help="revenue per customer")] = None,
    close_rate: Annotated[
        float | None, typer.Option(help="leads that become customers, 0-1")
    ] = None,
    reps: Annotated[int | None, typer.Option(help="sales reps working the leads")] = None,
    attempts_per_lead: Annotated[
        int | None,
        typer.Option(help="follow-up attempts per lead (default: the sequences' min_touches)"),
    ] = None,
    minutes_per_attempt: Annotated[
        float | None, typer.Option(help="rep minutes per attempt")
    ] = None,
    selling_hours_per_rep: Annotated[
        float | None, typer.Option(help="selling hours each rep has per period")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table|json")] = "table",
) -> None:
    """Leads marketing must deliver per period and week, and whether reps can work them all."""
    flags = {name: value for name, value in locals().items() if name in SlaPlan.model_fields}
    choice(fmt, ("table", "json"), "--format")
    if period is not None:
        choice(period, ("month", "quarter"), "--period")
    cli = cli_context(ctx)
    loaded = cli.catalog(required=False)  # flags alone work without a sequences folder
    catalog = loaded.catalog
    merged = _merged_plan(catalog, flags)  # one flag per field of team.yaml's sla_plan
    result = plan_sla(merged, promised_attempts=promised_attempts(catalog.sequences.values()))
    sequences = list(catalog.sequences.values())
    clock = clock_check(result, catalog.team, sequences, loaded.renderer, cli.clock.now())
    if fmt == "json":
        write(json.dumps({**result.as_dict(), "clock": clock.as_dict()}, indent=2))
    else:
        print_plan(result)
        print_clock_check(clock, result)


def print_plan(result: PlanResult) -> None:
    _print_target(result)
    check = result.capacity
    if check is None:
        console.print(f"capacity check skipped: needs {', '.join(result.missing)}", highlight=False)
        return
    _print_capacity(check, result.target.period)
    if result.warning:
        console.print(
            f"[bold red]warning:[/bold red] {result.warning}", highlight=False, soft_wrap=True
        )
    elif check.fits:
        console.print(
            f"[green]fits:[/green] reps use {check.utilisation:.0%} of their selling "
            f"hours on follow-ups",
            highlight=False,
        )
    else:
        console.print(
            "add selling_hours_per_rep to check the follow-ups fit the reps' time", highlight=False
        )


def _print_target(result: PlanResult) -> None:
    t = result.target
    table = Table("marketing SLA", f"per {t.period}", "per week", title="Marketing SLA")
    table.add_row("revenue goal", f"{t.revenue_goal:,.0f}", "")
    table.add_row(
        f"from marketing ({t.marketing_share:.0%})", f"{t.marketing_revenue_goal:,.0f}", ""
    )
    table.add_row(
        f"customers at {t.average_deal_size:,.0f} per deal", f"{t.customers_needed:,}", ""
    )
    table.add_row(
        f"leads needed at {t.close_rate:.1%} close rate",
        f"{t.leads_needed:,}",
        f"{t.leads_per_week:,.1f}",
    )
    console.print(table)


def _print_capacity(check: CapacityCheck, period: str) -> None:
    capacity = Table("sales capacity", f"per {period}", "per week", title="Sales capacity")
    weeks = check.hours_needed_per_rep / check.hours_needed_per_rep_per_week
    capacity.add_row("reps", str(check.reps), "")
    capacity.add_row(
        "leads per rep", f"{check.leads_per_rep:,.1f}", f"{check.leads_per_rep / weeks:,.1f}"
    )
    capacity.add_row(
        f"attempts per rep ({check.attempts_per_lead} per lead)",
        f"{check.attempts_per_rep:,.0f}",
        f"{check.attempts_per_rep / weeks:,.1f}",
    )
    capacity.add_row(
        f"hours per rep ({check.minutes_per_attempt:g} min per attempt)",
        f"{check.hours_needed_per_rep:,.1f}",
        f"{check.hours_needed_per_rep_per_week:,.1f}",
    )
    if check.selling_hours_per_rep is not None:
        capacity.add_row(
            "selling hours per rep",
            f"{check.selling_hours_per_rep:,.1f}",
            f"{check.selling_hours_per_rep / weeks:,.1f}",
        )
    console.print(capacity)


def print_clock_check(check: ClockCheck, result: PlanResult) -> None:
    """The promise against business hours: the sequences' timelines and the reps' hours."""
    for fit in check.sequences:
        words = f"{fit.planned_in_time} of {fit.promised} promised touches"
        colour = "green" if fit.fits else "bold red"
        console.print(
            f"[{colour}]{fit.sequence}[/{colour}]: {words} land within {fit.within} of "
            f"business hours (each touch done when due)",
            highlight=False,
        )
    if check.working_hours_per_rep is None:
        return
    line = f"working hours per rep per {result.target.period} (owners' working_hours): "
    line += f"{check.working_hours_per_rep:,.1f}"
    if check.touches_per_lead_that_fit is not None and result.capacity is not None:
        line += (
            f"; at {result.capacity.minutes_per_attempt:g} min per touch on "
            f"{result.capacity.leads_per_rep:,.1f} leads each, they hold "
            f"{check.touches_per_lead_that_fit} touches per lead "
            f"({result.capacity.attempts_per_lead} promised)"
        )
    console.print(line, highlight=False, soft_wrap=True)
