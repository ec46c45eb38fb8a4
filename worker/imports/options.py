"""What an import is asked to do (ImportOptions) and what it answers (ImportSummary, the
rejected rows); shared by the CLI and the API."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from models.lead import LeadIn
from models.validation import EVENT_TYPE_PATTERN
from worker.engine.tunables import IMPORT_CHUNK_ROWS, IMPORT_ENROLL_CHUNK_ROWS
from worker.imports.csv_rows import CsvImportError
from worker.specs.catalog import Catalog, UnknownSequence
from worker.specs.sending import may_send_as

CHUNK_COUNTS = ("created", "updated", "unchanged", "suppressed", "enrolled")  # per chunk written
UNKNOWN_OWNERS_SHOWN = 20  # distinct owners named in a summary; rows beyond are still counted


@dataclass(frozen=True)
class ImportOptions:
    event: str | None = None
    sequence: str | None = None
    dry_run: bool = False
    chunk_rows: int | None = None  # default: the import chunk sizes of engine/tunables.py

    @property
    def rows_per_chunk(self) -> int:
        if self.chunk_rows:
            return self.chunk_rows
        return IMPORT_ENROLL_CHUNK_ROWS if self.enrolls else IMPORT_CHUNK_ROWS

    @property
    def enrolls(self) -> bool:
        return bool(self.event or self.sequence)


def check_options(catalog: Catalog, options: ImportOptions) -> None:
    """Reject what would make every row fail, before reading any."""
    if options.event and options.sequence:
        raise CsvImportError("give an event or a sequence, not both", "sequence")
    if options.sequence is not None:
        try:
            catalog.sequence(options.sequence)
        except UnknownSequence as exc:
            raise CsvImportError(str(exc), "sequence") from None
    if options.event is not None and not re.match(EVENT_TYPE_PATTERN, options.event):
        raise CsvImportError(f"{options.event!r} is not an event type (e.g. lead.mql)", "event")


@dataclass(frozen=True)
class RejectedRow:
    line: int
    email: str
    reason: str
    values: tuple[str, ...]


@dataclass
class PendingLead:
    """A valid row waiting for its chunk to be written."""

    line: int
    lead: LeadIn
    repeat: bool  # its email came in an earlier chunk: counted as merged, written again
    values: tuple[str, ...] = ()  # the row as read, for the rejects file


@dataclass
class ImportSummary:
    """rows = created + updated + unchanged + merged + rejected."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    merged: int = 0  # rows whose email came earlier in the file: the last row wins
    rejected: int = 0
    enrolled: int = 0
    suppressed: int = 0  # leads in the file that are suppressed, so never enrolled
    dry_run: bool = False
    # owner -> rows, for owners (up to 20) not in team.yaml, who will not be the From
    unknown_owners: dict[str, int] = field(default_factory=dict)

    def note_owner(self, owner: str | None, catalog: Catalog) -> None:
        if owner is None or may_send_as(catalog.team, owner):
            return
        if owner in self.unknown_owners or len(self.unknown_owners) < UNKNOWN_OWNERS_SHOWN:
            self.unknown_owners[owner] = self.unknown_owners.get(owner, 0) + 1

    def add(self, chunk: ImportSummary) -> None:
        """Add what one written chunk counted."""
        for name in CHUNK_COUNTS:
            setattr(self, name, getattr(self, name) + getattr(chunk, name))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        enrolled = f"{'would enroll' if self.dry_run else 'enrolled'} {self.enrolled}"
        return (
            f"{'dry run, nothing written: ' if self.dry_run else ''}{self.rows} rows read; "
            f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.merged} duplicates merged, {self.rejected} rejected; {enrolled}; "
            f"{self.suppressed} suppressed (never enrolled)"
        )
