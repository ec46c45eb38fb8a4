"""Enrolment: `followup leads import FILE --event lead.mql` of new leads into a one-step
sequence (SQLite, end to end: the shipped command), against the limit: raw sqlite3 executemany
of the same rows (lead, event, enrollment, touch, log entry) into the same tables, committed in
the same chunk size. Also the import's peak RSS (1,000,000 rows in the full size)."""

from __future__ import annotations

import json
import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.figures import Figure, Size, ratio_figure
from bench.workspace import (
    followup_command,
    make_workspace,
    run_measured,
    sqlite_url,
    write_leads,
)
from worker.engine.tunables import IMPORT_ENROLL_CHUNK_ROWS

ROWS = {"small": 10_000, "full": 100_000}
RSS_ROWS = {"small": 10_000, "full": 1_000_000}


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def raw_limit(path: Path, count: int) -> float:
    """Rows per second: the same five rows per lead through sqlite3's executemany."""
    from worker.engine.db import make_engine
    from worker.engine.schema import prepare_schema

    engine = make_engine(f"sqlite:///{path}")
    prepare_schema(engine)
    engine.dispose()
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")  # as followup's own connections (engine/db.py)
    now = _stamp(datetime.now(UTC))
    db.execute(
        "INSERT INTO sequence_version (hash, name, definition, templates, created_at) "
        "VALUES ('raw', 'bench', '{}', '{}', ?)",
        (now,),
    )
    db.commit()
    started = time.perf_counter()
    for first in range(1, count + 1, IMPORT_ENROLL_CHUNK_ROWS):
        ids = range(first, min(first + IMPORT_ENROLL_CHUNK_ROWS, count + 1))
        _raw_chunk(db, ids, now)
    elapsed = time.perf_counter() - started
    db.close()
    return count / elapsed


def _raw_chunk(db: sqlite3.Connection, ids: range, now: str) -> None:
    emails = {n: f"raw{n}@example.com" for n in ids}
    payload = json.dumps({"type": "lead.mql", "lead": {"email": "x@example.com"}})
    with db:
        db.executemany(
            "INSERT INTO lead (id, email, first_name, company, fields, created_at, updated_at) "
            "VALUES (?, ?, 'Ann', 'Acme', '{}', ?, ?)",
            [(n, emails[n], now, now) for n in ids],
        )
        db.executemany(
            "INSERT INTO event (id, key, type, lead_email, payload, occurred_at, received_at, "
            "processed_at, failures) VALUES (?, ?, 'lead.mql', ?, ?, ?, ?, ?, 0)",
            [(n, f"import:{n}", emails[n], payload, now, now, now) for n in ids],
        )
        db.executemany(
            "INSERT INTO enrollment (id, lead_id, sequence, version, status, enrolled_at, "
            "trigger_event_id, touches_completed, touches_manual, touches_reassigned, "
            "touches_manual_reassigned, sla_status) "
            "VALUES (?, ?, 'bench', 'raw', 'active', ?, ?, 0, 0, 0, 0, 'none')",
            [(n, n, now, n) for n in ids],
        )
        db.executemany(
            "INSERT INTO touch (id, enrollment_id, lead_id, sequence, step, kind, status, due_at, "
            "attempts, redrives) VALUES (?, ?, ?, 'bench', 'one', 'email', 'scheduled', ?, 0, 0)",
            [(n, n, n, now) for n in ids],
        )
        db.executemany(
            "INSERT INTO compliance_entry (at, kind, lead, sequence, enrollment_id, detail) "
            "VALUES (?, 'enrollment.started', ?, 'bench', ?, 'version raw')",
            [(now, emails[n], n) for n in ids],
        )


def ours(folder: Path, count: int) -> tuple[float, float]:
    """(rows per second end to end, peak RSS MB) of the shipped import command."""
    space = make_workspace(folder, sqlite_url(folder))
    space.run("db", "upgrade")
    leads = write_leads(folder / "leads.csv", count)
    command = [*followup_command(), "leads", "import", str(leads), "--event", "lead.mql"]
    elapsed, rss, output = run_measured(command, space.env())
    if f"enrolled {count}" not in output:
        raise RuntimeError(f"import did not enrol every lead: {output}")
    return count / elapsed, rss


def figures(size: Size) -> list[Figure]:
    count = ROWS[size]
    with tempfile.TemporaryDirectory(prefix="followup-bench-") as tmp:
        limit = raw_limit(Path(tmp) / "raw.db", count)
        rate, rss = ours(Path(tmp) / "ours", count)
    result = [ratio_figure(f"enrolment ({count:,} leads, SQLite)", rate, limit, "rows/s", 0.2)]
    rss_rows = RSS_ROWS[size]
    if rss_rows != count:
        with tempfile.TemporaryDirectory(prefix="followup-bench-") as tmp:
            _, rss = ours(Path(tmp), rss_rows)
    result.append(
        Figure(
            f"import peak RSS ({rss_rows:,} rows, --event)",
            f"{rss:.0f} MB",
            "< 150 MB",
            rss < 150,
            "ru_maxrss of the `followup leads import` process",
        )
    )
    return result
