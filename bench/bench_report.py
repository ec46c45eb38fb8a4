"""How long the compliance report and the dashboard take on 100,000 enrollments, 1,000,000 touches.

Run from the repository root: `.venv/bin/python -m bench report`, or
`PYTHONPATH=. .venv/bin/python bench/bench_report.py [enrollments] [touches per enrollment]`;
set FOLLOWUP_BENCH_DB=/some/file.db to keep the built database and time it again later.
Builds a SQLite file with the real schema and indexes (bulk inserts), then times `build_report`
for every grouping and the dashboard render, warm, best of three. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import atexit
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlmodel import Session

from bench.figures import Figure, Size, time_figure
from bench.workspace import postgres_url, reset_postgres
from worker.compliance.dashboard import dashboard_html
from worker.compliance.report import GROUPINGS, build_report
from worker.engine.db import make_engine
from worker.engine.schema import prepare_schema
from worker.specs.team import TeamSpec

START = datetime(2026, 9, 1, tzinfo=UTC)
DAYS = 90
OWNERS = [f"rep{n:02d}@acme.test" for n in range(50)]
SEQUENCES = ["mql-follow-up", "webinar-nurture", "trial-signup", "event-leads", "reactivation"]
TEAM = TeamSpec.model_validate(
    {
        "sla_plan": {
            "revenue_goal": 1_000_000,
            "marketing_share": 0.4,
            "average_deal_size": 10_000,
            "close_rate": 0.02,
        },
        "strikes": {"breaches_per_strike": 3, "period": "week"},
    }
)
# (sla_status, sla_reason, weight)
VERDICTS = [
    ("met", "touches", 45),
    ("met", "engaged", 10),
    ("breached", "first_touch_late", 12),
    ("breached", "too_few_touches", 13),
    ("pending", None, 10),
    ("excluded", "lead.unsubscribed", 5),
    ("none", None, 5),
]


def stamp(moment: datetime) -> str:
    """SQLAlchemy's SQLite DATETIME text for an aware UTC time."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _enrollment(rng: random.Random, n: int) -> tuple[Any, ...]:
    enrolled = START + timedelta(seconds=rng.randrange(DAYS * 86400))
    status, reason, _ = rng.choices(VERDICTS, weights=[v[2] for v in VERDICTS])[0]
    touched = status != "breached" or rng.random() < 0.7
    first = rng.randrange(30, 3 * 86400) if touched else None
    touches = rng.randrange(1, 10) if touched else 0
    decided = (
        stamp(enrolled + timedelta(hours=rng.choice([1, 4, 24, 336])))
        if status in ("met", "breached", "excluded")
        else None
    )
    return (
        n,
        n,
        rng.choice(SEQUENCES),
        "bench",
        rng.choice(OWNERS),
        "active",
        stamp(enrolled),
        touches,
        rng.randrange(0, touches + 1) // 3,
        stamp(enrolled + timedelta(seconds=first)) if first is not None else None,
        first,
        status,
        reason,
        decided,
    )


def _touches(rng: random.Random, enrollment_id: int, per: int) -> Iterator[tuple[Any, ...]]:
    for step in range(per):
        kind = rng.choices(["email", "task", "logged"], weights=[85, 10, 5])[0]
        done = rng.random() < 0.7
        status = ("sent" if kind == "email" else "done") if done else "scheduled"
        due = stamp(START + timedelta(seconds=rng.randrange(DAYS * 86400)))
        yield (enrollment_id, enrollment_id, f"s{step}", kind, status, due, due if done else None)


ENROLLMENT_COLUMNS = (
    "id, lead_id, sequence, version, owner, status, enrolled_at, touches_completed, "
    "touches_manual, first_touch_at, first_touch_seconds, sla_status, sla_reason, sla_decided_at"
)
TOUCH_COLUMNS = (
    "enrollment_id, lead_id, step, kind, status, due_at, completed_at, attempts, redrives, sequence"
)


def _rows(enrollments: int, per: int, seed: int) -> dict[str, Iterator[tuple[Any, ...]]]:
    """Per table, its generated rows (lazily, so a million touches never sit in memory)."""
    rng = random.Random(seed)
    now = stamp(START)
    sequence_of: dict[int, str] = {}  # each enrollment's, copied onto its touches
    return {
        "sequence_version (hash, name, definition, templates, created_at)": iter(
            [("bench", "bench", "{}", "{}", now)]
        ),
        "lead (id, email, fields, created_at, updated_at)": (
            (n, f"lead{n}@example.com", "{}", now, now) for n in range(1, enrollments + 1)
        ),
        f"enrollment ({ENROLLMENT_COLUMNS})": (
            _remember_sequence(_enrollment(rng, n), sequence_of) for n in range(1, enrollments + 1)
        ),
        f"touch ({TOUCH_COLUMNS})": (
            (*t, 0, 0, sequence_of[n])
            for n in range(1, enrollments + 1)
            for t in _touches(rng, n, per)
        ),
    }


def _remember_sequence(row: tuple[Any, ...], sequence_of: dict[int, str]) -> tuple[Any, ...]:
    """An enrollment row, its sequence noted for its touches (generated after every enrollment)."""
    sequence_of[row[0]] = row[2]
    return row


def build_database(path: Path, enrollments: int, per: int, seed: int = 5) -> None:
    """The real schema from the models, then rows through sqlite3's executemany."""
    engine = make_engine(f"sqlite:///{path}")
    prepare_schema(engine)
    engine.dispose()
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=OFF")
    with db:
        for table, rows in _rows(enrollments, per, seed).items():
            marks = ", ".join("?" * table.split("(", 1)[1].count(","))
            db.executemany(f"INSERT INTO {table} VALUES ({marks}, ?)", rows)
    db.execute("ANALYZE")
    db.close()


def build_postgres(url: str, enrollments: int, per: int, seed: int = 5) -> None:
    """The same rows into an emptied PostgreSQL database, through COPY."""
    import psycopg

    reset_postgres(url)
    engine = make_engine(url)
    prepare_schema(engine)
    engine.dispose()
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as db:
        db.execute("SET TIME ZONE 'UTC'")
        for table, rows in _rows(enrollments, per, seed).items():
            with db.cursor().copy(f"COPY {table} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        db.execute("SELECT setval('touch_id_seq', (SELECT max(id) FROM touch))")
        db.commit()
        db.autocommit = True
        db.execute("VACUUM ANALYZE")


def best_of(runs: int, work: Callable[[], object]) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return min(timings)


def main() -> None:
    enrollments = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    per = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    kept = os.environ.get("FOLLOWUP_BENCH_DB")  # a file to build once and time again later
    with tempfile.TemporaryDirectory(prefix="followup-bench-") as folder:
        path = Path(kept or Path(folder) / "bench.db")
        if not path.exists():
            started = time.perf_counter()
            build_database(path, enrollments, per)
            print(
                f"built {enrollments:,} enrollments and {enrollments * per:,} touches in "
                f"{time.perf_counter() - started:.1f}s ({path.stat().st_size / 1e6:.0f} MB)"
            )
        time_queries(f"sqlite:///{path}")


SIZES = {"small": 10_000, "full": 100_000}  # enrollments, 10 touches each
LIMITS = {"sqlite": 0.5, "postgresql": 0.2}  # seconds, the targets table


_BUILT: dict[tuple[str, int], str] = {}  # (backend, enrollments) -> url, built once a run


def report_database(backend: str, enrollments: int) -> str:
    """The generated database (enrollments, 10 touches each), built once per run and backend:
    the claim bench reuses the report's rows."""
    key = (backend, enrollments)
    if key not in _BUILT:
        if backend == "sqlite":
            folder = Path(tempfile.mkdtemp(prefix="followup-bench-"))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            build_database(folder / "report.db", enrollments, 10)
            _BUILT[key] = f"sqlite:///{folder / 'report.db'}"
        else:
            build_postgres(postgres_url(), enrollments, 10)
            _BUILT[key] = postgres_url()
    return _BUILT[key]


def figures(size: Size) -> list[Figure]:
    """The report by owner and by week on SQLite and PostgreSQL, warm, best of three."""
    enrollments = SIZES[size]
    return [
        *_report_figures(report_database("sqlite", enrollments), enrollments),
        *_report_figures(report_database("postgresql", enrollments), enrollments),
    ]


def _report_figures(url: str, enrollments: int) -> list[Figure]:
    engine = make_engine(url)
    now = START + timedelta(days=DAYS)
    backend = engine.dialect.name
    name = "SQLite" if backend == "sqlite" else "PostgreSQL"
    result = []
    with Session(engine) as session:
        for by in ("owner", "week"):
            seconds = best_of(3, partial(build_report, session, by=by, team=TEAM, now=now))
            title = f"compliance report by {by} ({enrollments * 10:,} touches, {name})"
            result.append(time_figure(title, seconds, LIMITS[backend], "warm, best of 3"))
    engine.dispose()
    return result


def time_queries(url: str) -> None:
    """Warm timings, best of three, on the built database."""
    engine = make_engine(url)
    now = START + timedelta(days=DAYS)
    with Session(engine) as session:
        for by in GROUPINGS:
            seconds = best_of(3, partial(build_report, session, by=by, team=TEAM, now=now))
            print(f"build_report by {by:<9} {seconds * 1000:8.1f} ms")
        window: dict[str, Any] = {"since": START + timedelta(days=DAYS - 30), "until": now}
        seconds = best_of(3, lambda: build_report(session, team=TEAM, now=now, **window))
        print(f"build_report last 30 days {seconds * 1000:8.1f} ms")
        seconds = best_of(
            3, lambda: dashboard_html(session, team=TEAM, since=None, until=None, now=now)
        )
        print(f"dashboard page (html)     {seconds * 1000:8.1f} ms")
    engine.dispose()


if __name__ == "__main__":
    main()
