"""Report and log as CSV / JSON lines; CSV cells that a spreadsheet would run are neutralised."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from dataclasses import fields
from typing import Any

from models.compliance import ComplianceEntry
from worker.compliance.report import Report, ReportRow
from worker.engine.csv_out import SafeCsvWriter, safe_cell

__all__ = ["entry_dict", "log_csv", "log_jsonl", "report_csv", "report_json", "safe_cell"]
LOG_COLUMNS = (
    "at",
    "kind",
    "lead",
    "owner",
    "sequence",
    "step",
    "detail",
    "enrollment_id",
    "touch_id",
)


def _csv(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    buffer = io.StringIO()
    writer = SafeCsvWriter(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
    return buffer.getvalue()


def report_csv(report: Report) -> str:
    names = [f.name for f in fields(ReportRow)]
    return _csv(names, ([getattr(r, n) for n in names] for r in [*report.rows, report.total]))


def report_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2)


def entry_dict(entry: ComplianceEntry) -> dict[str, Any]:
    """One log line under SPEC's field names (`lead` is the lead's email)."""
    spelled = {"at": entry.at.isoformat(), "kind": str(entry.kind), "lead": entry.lead_email}
    return {
        name: spelled[name] if name in spelled else getattr(entry, name) for name in LOG_COLUMNS
    }


def log_csv(entries: Iterable[ComplianceEntry]) -> str:
    return _csv(LOG_COLUMNS, ([entry_dict(e)[c] for c in LOG_COLUMNS] for e in entries))


def log_jsonl(entries: Iterable[ComplianceEntry]) -> str:
    return "".join(json.dumps(entry_dict(e)) + "\n" for e in entries)
