"""How long the compliance report and the dashboard take on 100,000 enrollments, 1,000,000 touches.

Run from the repository root: `.venv/bin/python -m bench report`, or
`PYTHONPATH=. .venv/bin/python bench/bench_report.py [enrollments] [touches per enrollment]`;
set FOLLOWUP_BENCH_DB=/some/file.db to keep the built database and time it again later.
Builds a SQLite file with the real schema and indexes (bulk inserts), then times `build_report`
for every grouping and the dashboard render, warm, best of three. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import os
import random
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


def build_database(path: Path, enrollments: int, per: int, seed: int = 5) -> None:
    """The real schema from the models, then rows through sqlite3's executemany."""
    engine = make_engine(f"sqlite:///{path}")
    prepare_schema(engine)
    engine.dispose()
    rng = random.Random(seed)
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=OFF")
    now = stamp(START)
    with db:
        db.execute(
            "INSERT INTO sequence_version (hash, name, definition, templates, created_at) "
            "VALUES ('bench', 'bench', '{}', '{}', ?)",
            (now,),
        )
        db.executemany(
            "INSERT INTO lead (id, email, fields, created_at, updated_at) "
            "VALUES (?, ?, '{}', ?, ?)",
            ((n, f"lead{n}@example.com", now, now) for n in range(1, enrollments + 1)),
        )
        db.executemany(
            "INSERT INTO enrollment (id, lead_id, sequence, version, owner, status, enrolled_at, "
            "touches_completed, touches_manual, first_touch_at, first_touch_seconds, sla_status, "
            "sla_reason, sla_decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (_enrollment(rng, n) for n in range(1, enrollments + 1)),
        )
        db.executemany(
            "INSERT INTO touch (enrollment_id, lead_id, step, kind, status, due_at, completed_at, "
            "attempts) VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
            (t for n in range(1, enrollments + 1) for t in _touches(rng, n, per)),
        )
    db.execute("ANALYZE")
    db.close()


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
        time_queries(path)


def time_queries(path: Path) -> None:
    """Warm timings, best of three, on the built file."""
    engine = make_engine(f"sqlite:///{path}")
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
