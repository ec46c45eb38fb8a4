"""What every command shares: one-line errors, exit codes, consoles, date and choice options."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from typing import NoReturn

from rich.console import Console

from worker.cli.safe_text import clean_lines, labelled
from worker.specs.catalog import CatalogError

EXIT_FOUND_ERRORS, EXIT_USAGE = 1, 2  # 0 when done (SPEC section 9)
# Piped output (reports into files, CI logs) gets room for the wide tables instead of 80 columns.
console = Console() if sys.stdout.isatty() else Console(width=160)
err_console = Console(stderr=True) if sys.stderr.isatty() else Console(stderr=True, width=200)


class CliError(Exception):
    """A one-line message for the user and the exit code to leave with."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    raise CliError(message, code)


def print_catalog_errors(exc: CatalogError) -> None:
    for error in exc.errors:
        err_console.print(labelled("error", error), highlight=False, soft_wrap=True)


def parse_when(value: str | None, option: str) -> datetime | None:
    """`2026-11-01` (midnight UTC) or a full ISO timestamp; naive times are UTC."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        fail(f"{option}: {value!r} is not a date (use YYYY-MM-DD or an ISO timestamp)")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def choice(value: str, allowed: tuple[str, ...], option: str) -> str:
    if value not in allowed:
        fail(f"{option} must be one of {', '.join(allowed)} (got {value!r})")
    return value


def write(text: str) -> None:
    """Data to stdout as it is; to a terminal, without the control characters it may hold."""
    if sys.stdout.isatty():
        text = clean_lines(text)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
