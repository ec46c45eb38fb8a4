"""Streaming CSV -> leads (and enrollments) in bulk chunks; bad rows are rejected by line number.

The one importer behind `followup leads import` and `POST /leads/import` (SPEC section 8);
reading and row validation live in csv_rows.py, writing a chunk in chunks.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from models.compliance import ComplianceEntry
from models.enrollment import Enrollment
from models.event import Event
from models.lead import PROFILE_COLUMNS, Lead
from models.touch import Touch
from models.validation import FieldsTooLarge, merge_fields
from worker.engine.db import refresh_statistics
from worker.engine.metrics import IMPORT_ROWS
from worker.engine.runtime import Runtime
from worker.engine.tunables import IMPORT_ANALYZE_ROWS
from worker.imports.chunks import commit_chunk
from worker.imports.csv_rows import CsvImportError, CsvSource, lead_from_row
from worker.imports.options import (
    ImportOptions,
    ImportSummary,
    PendingLead,
    RejectedRow,
    check_options,
)

__all__ = [
    "CsvImportError",
    "CsvSource",
    "ImportOptions",
    "ImportSummary",
    "RejectedRow",
    "import_rows",
]


def import_rows(
    rt: Runtime,
    source: CsvSource,
    options: ImportOptions,
    *,
    on_reject: Callable[[RejectedRow], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Validate rows as they stream, and write them a chunk (one transaction) at a time."""
    check_options(rt.catalog, options)
    summary = ImportSummary(dry_run=options.dry_run)
    now = rt.clock.now()
    seen = SeenEmails()  # the emails already taken: ~10 bytes a lead
    batch: dict[str, PendingLead] = {}
    email_at = source.columns.index("email")

    def reject(line: int, values: tuple[str, ...], reason: str) -> None:
        summary.rejected += 1
        if on_reject is not None:
            email = values[email_at] if len(values) > email_at else ""
            on_reject(RejectedRow(line, email, reason, values))

    def commit() -> None:
        counts, refused = commit_chunk(rt, batch, options, now=now, fingerprint=source.fingerprint)
        summary.add(counts)
        for pending, reason in refused:
            reject(pending.line, pending.values, reason)
        batch.clear()

    for line, values, problem in source.records():
        summary.rows += 1
        lead = lead_from_row(source.columns, values) if values is not None else problem
        row = tuple(values or ())
        if isinstance(lead, str):
            reject(line, row, lead)
            continue
        summary.note_owner(lead.owner, rt.catalog)
        refused = _take(batch, seen, PendingLead(line, lead, False, row), summary)
        if refused is not None:
            reject(line, row, refused)
        if len(batch) >= options.rows_per_chunk:
            commit()
            if on_progress is not None:
                on_progress(source.position())
    if batch:
        commit()
    if on_progress is not None:
        on_progress(source.position())
    if not options.dry_run:
        for result in ("merged", "rejected"):
            IMPORT_ROWS.labels(result=result).inc(getattr(summary, result))
        if summary.created + summary.enrolled >= IMPORT_ANALYZE_ROWS:
            refresh_statistics(rt.engine, grown_tables(enrolled=summary.enrolled > 0))
    return summary


def grown_tables(*, enrolled: bool) -> list[str]:
    """The tables an import adds rows to: leads, and with enrolment its events, enrollments,
    touches and log entries."""
    tables = (Lead, Event, Enrollment, Touch, ComplianceEntry) if enrolled else (Lead,)
    return [str(table.__tablename__) for table in tables]


class SeenEmails:
    """The emails a file has had so far, as 8-byte digests packed in 65,536 buckets (a set of
    bytes objects costs ~80 bytes an email, 80 MB for a million rows; this ~10)."""

    _SUFFIX = 6  # bytes kept per email in its bucket; the first 2 choose the bucket

    def __init__(self) -> None:
        self._buckets = [bytearray() for _ in range(1 << 16)]

    def add(self, email: str) -> bool:
        """Note `email`; False when it was there already."""
        digest = hashlib.blake2b(email.encode(), digest_size=8).digest()
        bucket, suffix = self._buckets[int.from_bytes(digest[:2])], digest[2:]
        found = bucket.find(suffix)
        while found != -1 and found % self._SUFFIX:  # a match across two entries: look on
            found = bucket.find(suffix, found + 1)
        if found != -1:
            return False
        bucket += suffix
        return True


def _take(
    batch: dict[str, PendingLead], seen: SeenEmails, row: PendingLead, summary: ImportSummary
) -> str | None:
    """Last row wins: later values override, fields not given keep the earlier ones.

    Returns why the row is refused (its merged fields would pass the caps), else None.
    """
    email = row.lead.email
    if seen.add(email):
        batch[email] = row
        return None
    earlier = batch.get(email)
    if earlier is None:
        summary.merged += 1
        batch[email] = PendingLead(row.line, row.lead, True, row.values)
        return None
    try:
        fields = merge_fields(earlier.lead.fields, row.lead.fields)
    except FieldsTooLarge as exc:
        return str(exc)
    summary.merged += 1
    changes: dict[str, Any] = {
        n: v for n in PROFILE_COLUMNS if (v := getattr(row.lead, n)) is not None
    }
    changes["fields"] = fields
    merged = earlier.lead.model_copy(update=changes)
    batch[email] = PendingLead(row.line, merged, earlier.repeat, row.values)
    return None
