"""What `followup sequences check` prints beyond errors: sparse-lead warnings and stored leads."""

from __future__ import annotations

from worker.cli.common import console, err_console
from worker.cli.context import CliContext
from worker.cli.safe_text import labelled
from worker.engine.db import reading
from worker.flow.lead_readiness import Coverage, LeadFailure, check_stored_leads
from worker.specs.yaml_source import SourceError

MAX_LISTED = 50  # lead failures printed one per line; the rest are counted


def print_warnings(warnings: list[SourceError]) -> None:
    for warning in warnings:
        err_console.print(labelled("warning", warning, "yellow"), highlight=False, soft_wrap=True)


def check_leads(cli: CliContext, sample: int) -> int:
    """Render for the stored leads enrolled or about to be; prints each failing lead, returns
    how many there are."""
    with cli.runtime() as rt, reading(rt.engine) as session:
        readiness = check_stored_leads(
            session,
            catalog=rt.catalog,
            versions=rt.versions,
            default_from=rt.settings.default_from,
            sample=sample,
        )
    for coverage in readiness.coverage:
        console.print(_coverage_line(coverage), highlight=False, soft_wrap=True)
    for failure in readiness.failures[:MAX_LISTED]:
        err_console.print(
            labelled("error", _failure_line(failure)), highlight=False, soft_wrap=True
        )
    hidden = len(readiness.failures) - MAX_LISTED
    if hidden > 0:
        err_console.print(f"... and {hidden} more lead(s)", highlight=False)
    return len(readiness.failures)


def _coverage_line(coverage: Coverage) -> str:
    enrolled = _checked(coverage.enrolled_checked, coverage.enrolled, "enrolled")
    waiting = _checked(coverage.waiting_checked, coverage.waiting, "waiting to be enrolled")
    return f"leads: {coverage.sequence}: {enrolled}, {waiting}"


def _checked(checked: int, total: int, what: str) -> str:
    sampled = " (random sample)" if checked < total else ""
    return f"{checked} of {total} {what} checked{sampled}"


def _failure_line(failure: LeadFailure) -> str:
    source = "waiting to be enrolled in" if failure.waiting else "enrolled in"
    return (
        f"lead {failure.lead} ({source} {failure.sequence}, step {failure.step!r}): "
        f"{failure.reason}"
    )
