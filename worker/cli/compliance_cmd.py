"""`followup compliance report|log`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from worker.cli.common import choice, console, parse_when, runtime, write
from worker.compliance.export import log_csv, log_jsonl, report_csv, report_json
from worker.compliance.log import LogFilter, query_log
from worker.compliance.report import GROUPINGS, Report, build_report
from worker.db import transaction

app = typer.Typer(help="SLA compliance: the report and the log.", no_args_is_help=True)


@app.command("report")
def report(
    by: Annotated[str, typer.Option(help="owner|sequence|day|week|month")] = "owner",
    since: Annotated[str | None, typer.Option(help="enrolled on or after (YYYY-MM-DD or ISO)")] = None,
    until: Annotated[str | None, typer.Option(help="enrolled before (YYYY-MM-DD or ISO)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table|json|csv")] = "table",
) -> None:
    """Met / breached / pending / excluded counts and rates per group (SPEC section 11)."""
    choice(by, GROUPINGS, "--by")
    choice(fmt, ("table", "json", "csv"), "--format")
    rt = runtime()
    with transaction(rt.engine) as session:
        result = build_report(session, by=by, since=parse_when(since, "--since"),
                              until=parse_when(until, "--until"), team=rt.catalog.team)
    if fmt == "json":
        write(report_json(result))
    elif fmt == "csv":
        write(report_csv(result))
    else:
        print_report(result)


def print_report(result: Report) -> None:
    table = Table(result.by, "enrolled", "met", "breached", "pending", "excluded", "touches",
                  "unworked", "rate", "median 1st touch", "strikes",
                  title=f"SLA compliance by {result.by}")
    for row in [*result.rows, result.total]:
        rate = "-" if row.compliance_rate is None else f"{row.compliance_rate:.1%}"
        median = "-" if row.median_first_touch_seconds is None else _human(row.median_first_touch_seconds)
        table.add_row(row.key, *(str(getattr(row, n)) for n in (
            "enrolled", "met", "breached", "pending", "excluded", "touches", "unworked")),
            rate, median, "-" if row.strikes is None else str(row.strikes),
            style="bold" if row is result.total else None)
    console.print(table)
    if result.revenue_at_risk is not None:
        console.print(f"revenue at risk from unworked leads: {result.revenue_at_risk:,.2f}")


def _human(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


@app.command("log")
def log(
    email: Annotated[str | None, typer.Option(help="one lead")] = None,
    owner: Annotated[str | None, typer.Option(help="one owner")] = None,
    sequence: Annotated[str | None, typer.Option(help="one sequence")] = None,
    kind: Annotated[str | None, typer.Option(help="e.g. touch.sent, sla.breached")] = None,
    since: Annotated[str | None, typer.Option(help="at or after (YYYY-MM-DD or ISO)")] = None,
    until: Annotated[str | None, typer.Option(help="before (YYYY-MM-DD or ISO)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table|jsonl|csv")] = "table",
) -> None:
    """The append-only compliance log, oldest first."""
    from models.compliance import ComplianceKind

    choice(fmt, ("table", "jsonl", "csv"), "--format")
    if kind is not None:
        choice(kind, tuple(k.value for k in ComplianceKind), "--kind")
    rt = runtime()
    where = LogFilter(email=email, owner=owner, sequence=sequence, kind=kind,
                      since=parse_when(since, "--since"), until=parse_when(until, "--until"))
    with transaction(rt.engine) as session:
        entries = query_log(session, where)
    if fmt == "jsonl":
        write(log_jsonl(entries)) if entries else None
    elif fmt == "csv":
        write(log_csv(entries))
    else:
        table = Table("at (UTC)", "kind", "lead", "owner", "sequence", "step", "detail")
        for e in entries:
            table.add_row(e.at.strftime("%Y-%m-%d %H:%M:%S"), str(e.kind), e.lead, e.owner or "",
                          e.sequence or "", e.step or "", e.detail or "")
        console.print(table)
