"""`followup leads import FILE [--event TYPE | --sequence NAME] [--dry-run] [--rejects FILE]`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from worker.cli.common import console, err_console, fail
from worker.cli.context import cli_context
from worker.cli.safe_text import clean
from worker.engine.csv_out import SafeCsvWriter
from worker.engine.runtime import Runtime
from worker.flow.owners import unknown_owner_warning
from worker.imports.csv_import import (
    CsvImportError,
    CsvSource,
    ImportOptions,
    ImportSummary,
    RejectedRow,
    import_rows,
)

app = typer.Typer(help="Import leads.", no_args_is_help=True)
SHOWN_REJECTS = 10


@app.command("import")
def import_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(metavar="FILE", help="CSV with an email column")],
    event: Annotated[str | None, typer.Option(help="record this event per lead (lead.mql)")] = None,
    sequence: Annotated[str | None, typer.Option(help="enroll every lead in this sequence")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count, but write nothing")] = False,
    rejects: Annotated[Path | None, typer.Option(help="write rejected rows here (CSV)")] = None,
) -> None:
    """Upsert leads by email (case-insensitive), then enroll them; bad rows are reported by line."""
    if not file.is_file():
        fail(f"{file}: no such file")
    options = ImportOptions(event=event, sequence=sequence, dry_run=dry_run)
    started = time.monotonic()
    with cli_context(ctx).runtime() as rt:
        summary, shown = _import(rt, file, options, rejects)
    _print_rejects(file, shown, summary.rejected, rejects)
    console.print(
        f"{file}: {summary.text()} in {time.monotonic() - started:.1f}s",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    for owner, count in summary.unknown_owners.items():
        err_console.print(
            unknown_owner_warning(owner, count, "row(s)"),
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if event and not rt.catalog.triggered_by(event):
        err_console.print(
            f"note: no sequence triggers on {event!r}: the events were recorded "
            "and carried out, and nobody was enrolled",
            highlight=False,
        )


def _import(
    rt: Runtime, file: Path, options: ImportOptions, rejects: Path | None
) -> tuple[ImportSummary, list[RejectedRow]]:
    """The import, with the first rejected rows kept to show and all of them in --rejects."""
    shown: list[RejectedRow] = []
    try:
        with file.open("rb") as binary, _rejects_writer(rejects) as write_reject:
            source = CsvSource(binary)

            def on_reject(row: RejectedRow) -> None:
                if len(shown) < SHOWN_REJECTS:
                    shown.append(row)
                if write_reject is not None:
                    write_reject(row, source.header)

            with _progress(source.size) as on_progress:
                summary = import_rows(
                    rt, source, options, on_reject=on_reject, on_progress=on_progress
                )
    except CsvImportError as exc:
        fail(f"{file}: {exc}" if exc.field == "file" else f"--{exc.field}: {exc}")
    return summary, shown


def _print_rejects(file: Path, shown: list[RejectedRow], total: int, path: Path | None) -> None:
    """The first rejected rows as `file:line: reason`, then how many more and where they are."""
    for row in shown:
        err_console.print(
            clean(f"{file}:{row.line}: rejected: {row.reason}"),
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if total > len(shown):
        more = f"; all of them in {path}" if path else " (use --rejects FILE for all of them)"
        err_console.print(
            f"... and {total - len(shown)} more rejected rows{more}", highlight=False, markup=False
        )


@contextmanager
def _rejects_writer(
    path: Path | None,
) -> Iterator[Callable[[RejectedRow, list[str]], None] | None]:
    """Rejected rows as CSV: line, email, reason, then the row as it was (formula cells
    neutralised like every CSV the tool writes: the file is opened in spreadsheets)."""
    if path is None:
        yield None
        return
    try:
        # surrogateescape writes undecodable bytes back exactly as they were read
        handle: IO[str] = path.open("w", encoding="utf-8", errors="surrogateescape", newline="")
    except OSError as exc:
        fail(f"--rejects {path}: {exc.strerror or exc}")
    with handle:
        writer = SafeCsvWriter(handle)
        started = False

        def write(row: RejectedRow, header: list[str]) -> None:
            nonlocal started
            if not started:
                writer.writerow(["line", "email", "reason", *header])
                started = True
            writer.writerow([row.line, row.email, row.reason, *row.values])

        yield write
        if not started:
            writer.writerow(["line", "email", "reason"])


def _progress(total: int | None) -> nullcontext[None] | _ProgressBar:
    """A Rich progress bar on a terminal; nothing when the output is piped or logged."""
    if not console.is_terminal:
        return nullcontext(None)
    return _ProgressBar(total)


class _ProgressBar:
    def __init__(self, total: int | None) -> None:
        self._bar = Progress(
            TextColumn("importing"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._task = self._bar.add_task("import", total=total)

    def __enter__(self) -> Callable[[int], None]:
        self._bar.start()
        return lambda done: self._bar.update(self._task, completed=done)

    def __exit__(self, *_exc: object) -> None:
        self._bar.stop()
