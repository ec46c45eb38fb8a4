"""`followup compliance report|log|link|audit`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from models.compliance import ComplianceEntry, ComplianceKind
from worker.cli import dashboard_links_cmd
from worker.cli.common import (
    EXIT_FOUND_ERRORS,
    choice,
    console,
    err_console,
    fail,
    parse_when,
    write,
)
from worker.cli.context import cli_context
from worker.cli.safe_text import cell, clean, labelled
from worker.compliance.dashboard import dashboard_html, format_seconds
from worker.compliance.export import log_csv, log_jsonl, report_csv, report_json
from worker.compliance.log import LogFilter, query_log
from worker.compliance.replay import audit_log
from worker.compliance.replies import ReplyFacts
from worker.compliance.report import COUNT_FIELDS, GROUPINGS, Report, build_report
from worker.compliance.variants import VariantRow
from worker.engine.db import reading

app = typer.Typer(
    help="SLA compliance: the report, the log and the dashboard.", no_args_is_help=True
)
REPLY_COLUMNS = (
    "emailed",
    "replies",
    "auto_replies",
    "left",
    "bounces",
    "complaints",
    "unsubscribes",
)
SINCE_HELP = "enrolled on or after (YYYY-MM-DD or ISO)"
UNTIL_HELP = "enrolled before (YYYY-MM-DD or ISO)"


@app.command("report")
def report(
    ctx: typer.Context,
    by: Annotated[str, typer.Option(help="owner|sequence|day|week|month")] = "owner",
    since: Annotated[str | None, typer.Option(help=SINCE_HELP)] = None,
    until: Annotated[str | None, typer.Option(help=UNTIL_HELP)] = None,
    fmt: Annotated[str, typer.Option("--format", help="table|json|csv|html")] = "table",
) -> None:
    """Met / breached / pending / excluded counts and rates per group (SPEC section 11)."""
    choice(by, GROUPINGS, "--by")
    choice(fmt, ("table", "json", "csv", "html"), "--format")
    start, end = parse_when(since, "--since"), parse_when(until, "--until")
    with cli_context(ctx).runtime() as rt, reading(rt.engine) as session:
        if fmt == "html":
            write(
                dashboard_html(
                    session,
                    team=rt.catalog.team,
                    since=start,
                    until=end,
                    now=rt.clock.now(),
                    sequences=rt.catalog.sequences.values(),
                    versions=rt.versions,
                )
            )
            return
        result = build_report(
            session, by=by, since=start, until=end, team=rt.catalog.team, now=rt.clock.now()
        )
    if fmt == "json":
        write(report_json(result))
    elif fmt == "csv":
        write(report_csv(result))
    else:
        print_report(result)


# Table headings: each count column under its name, shortened where the table is tight.
SHORT_HEADINGS = {
    "breached_first_touch_late": "late",
    "breached_too_few_touches": "few",
    "touches_manual": "manual",
}
FIGURE_HEADINGS = ("risk", "moved", "rate", "median 1st", "p90 1st", "strikes")


def print_report(result: Report) -> None:
    counts = (SHORT_HEADINGS.get(name, name) for name in COUNT_FIELDS)
    headings = (result.by, *counts, *FIGURE_HEADINGS)
    table = Table(*headings, title=f"SLA compliance by {result.by}")
    for row in [*result.rows, result.total]:
        rate = "-" if row.compliance_rate is None else f"{row.compliance_rate:.1%}"
        table.add_row(
            cell(row.key),
            *(str(getattr(row, n)) for n in COUNT_FIELDS),
            str(row.at_risk),
            f"{row.reassigned}/{row.reassigned_in}",
            rate,
            format_seconds(row.median_first_touch_seconds),
            format_seconds(row.p90_first_touch_seconds),
            "-" if row.strikes is None else str(row.strikes),
            style="bold" if row is result.total else None,
        )
    console.print(table)
    if result.revenue_at_risk is not None:
        console.print(f"revenue at risk from unworked leads: {result.revenue_at_risk:,.2f}")
    _print_marketing(result)
    if result.replies is not None and not result.replies.empty:
        print_replies(result.replies)
    if result.variants:
        print_variants(result.variants)
    for owner in result.strike_list:
        leads = ", ".join(f"{lead.email} ({lead.reason})" for lead in owner.leads)
        console.print(
            Text.assemble(
                (clean(f"{owner.owner}: {owner.strikes} strike(s)"), "red"),
                clean(f" from {owner.breaches} breaches: {leads}"),
            ),
            highlight=False,
            soft_wrap=True,
        )


def print_replies(facts: ReplyFacts) -> None:
    """Replies and reply rates, auto-replies, bounces and complaints (worker/compliance/replies)."""
    for title, rows in (
        ("Replies by sequence (enrollments)", facts.by_sequence),
        ("Replies by step (emails)", facts.by_step),
        ("Replies, bounces and complaints by sending mailbox (emails)", facts.by_mailbox),
    ):
        table = Table("group", *REPLY_COLUMNS, "reply rate", title=title)
        for row in rows:
            rate = "-" if row.reply_rate is None else f"{row.reply_rate:.1%}"
            table.add_row(row.key, *(str(getattr(row, n)) for n in REPLY_COLUMNS), rate)
        console.print(table)


def print_variants(rows: list[VariantRow]) -> None:
    """Each step's variants against its first: reply rate, 95% interval, p-value, verdict."""
    table = Table(
        "sequence / step",
        "variant",
        "sent",
        "replies",
        "reply rate (95% CI)",
        "p vs first",
        "verdict",
        title="A/B variants, judged by replies",
    )
    for row in rows:
        rate = "-"
        if row.reply_rate is not None:
            rate = f"{row.reply_rate:.1%} ({row.ci_low:.1%}-{row.ci_high:.1%})"
        p_value = "-" if row.p_value is None else f"{row.p_value:.3f}"
        verdict = row.verdict
        if verdict == "collecting" and row.sends_needed:
            verdict += f" (about {row.sends_needed} sends each to tell)"
        table.add_row(
            cell(f"{row.sequence} / {row.step}"),
            cell(row.variant),
            str(row.sent),
            str(row.replies),
            rate,
            p_value,
            verdict,
        )
    console.print(table)


def _print_marketing(result: Report) -> None:
    side = result.marketing
    if side is None or side.leads_needed is None:
        return
    console.print(
        f"marketing: {side.leads_delivered} leads delivered of {side.leads_needed:,.1f} "
        f"needed over {side.days:,.1f} days: {side.status}",
        highlight=False,
    )


@app.command("log")
def log(
    ctx: typer.Context,
    email: Annotated[str | None, typer.Option(help="one lead")] = None,
    owner: Annotated[str | None, typer.Option(help="one owner")] = None,
    sequence: Annotated[str | None, typer.Option(help="one sequence")] = None,
    kind: Annotated[str | None, typer.Option(help="e.g. touch.sent, sla.breached")] = None,
    since: Annotated[str | None, typer.Option(help="at or after (YYYY-MM-DD or ISO)")] = None,
    until: Annotated[str | None, typer.Option(help="before (YYYY-MM-DD or ISO)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table|jsonl|csv")] = "table",
) -> None:
    """The append-only compliance log, oldest first."""
    choice(fmt, ("table", "jsonl", "csv"), "--format")
    if kind is not None:
        choice(kind, tuple(k.value for k in ComplianceKind), "--kind")
    where = LogFilter(
        email=email,
        owner=owner,
        sequence=sequence,
        kind=kind,
        since=parse_when(since, "--since"),
        until=parse_when(until, "--until"),
    )
    with cli_context(ctx).runtime() as rt, reading(rt.engine) as session:
        entries = query_log(session, where)
    if fmt == "jsonl":
        if entries:
            write(log_jsonl(entries))
    elif fmt == "csv":
        write(log_csv(entries))
    else:
        _print_log(entries)


def _print_log(entries: list[ComplianceEntry]) -> None:
    table = Table("at (UTC)", "kind", "lead", "owner", "sequence", "step", "detail")
    for e in entries:
        table.add_row(
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            str(e.kind),
            cell(e.lead_email),
            cell(e.owner),
            cell(e.sequence),
            cell(e.step),
            cell(e.detail),
        )
    console.print(table)


@app.command("audit")
def audit(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help=SINCE_HELP)] = None,
    until: Annotated[str | None, typer.Option(help=UNTIL_HELP)] = None,
) -> None:
    """Recompute the report from the append-only log alone; exit 1 where it differs."""
    with cli_context(ctx).runtime() as rt, reading(rt.engine) as session:
        differences = audit_log(
            session,
            groupings=GROUPINGS,
            since=parse_when(since, "--since"),
            until=parse_when(until, "--until"),
            team=rt.catalog.team,
            now=rt.clock.now(),
        )
    for line in differences:
        err_console.print(labelled("differs", line), highlight=False, soft_wrap=True)
    if differences:
        fail(f"{len(differences)} figure(s) in the report differ from the log", EXIT_FOUND_ERRORS)
    console.print(
        f"ok: the report recomputed from the log equals the tables (by {', '.join(GROUPINGS)})",
        highlight=False,
    )


dashboard_links_cmd.register(app)
