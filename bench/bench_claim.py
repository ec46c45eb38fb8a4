"""Scheduler claim: 1,000 touches due among 1,000,000 touch rows, claimed and enqueued (the
scheduler tick's claim loop: claim_due_touches until none are due, each id sent to the touch
queue on the bench's own Redis), on SQLite and PostgreSQL. Best of three, each on fresh due rows.
"""

from __future__ import annotations

import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text

from bench.bench_report import START, report_database
from bench.figures import Figure, Size, time_figure
from bench.workspace import OwnRedis, make_workspace
from worker.engine.actors import declare_actors
from worker.engine.broker import make_broker
from worker.engine.db import transaction
from worker.engine.runtime import Runtime, build_runtime
from worker.engine.settings import Settings
from worker.engine.tunables import QUEUED_LEASE
from worker.flow.scheduling import claim_due_touches

SIZES = {"small": 10_000, "full": 100_000}  # enrollments, 10 touches each
DUE = 1000
NOW = START - timedelta(days=1)  # before every generated due date: nothing else is due


def _make_due(rt: Runtime, count: int) -> None:
    """`count` touches spread over the table become due (status scheduled, due a minute ago)."""
    with transaction(rt.engine) as session:
        total = session.execute(text("SELECT max(id) FROM touch")).scalar_one()
        step = max(1, total // count)
        session.execute(
            text(
                "UPDATE touch SET status = 'scheduled', due_at = :due, lease_until = NULL "
                "WHERE id IN (SELECT id FROM touch WHERE id % :step = 0 LIMIT :count)"
            ),
            {"due": NOW - timedelta(minutes=1), "step": step, "count": count},
        )


def claim_and_enqueue(rt: Runtime, claiming: list[float]) -> int:
    """What a tick does with due touches: claim a batch, enqueue each id, until none are due.
    The seconds spent in the claim transactions alone are added to `claiming`."""
    enqueued = 0
    while True:
        started = time.perf_counter()
        with transaction(rt.engine) as session:
            ids = claim_due_touches(session, now=NOW, lease_for=QUEUED_LEASE)
        claiming.append(time.perf_counter() - started)
        for touch_id in ids:
            rt.enqueue_touch(touch_id)
        enqueued += len(ids)
        if not ids:
            return enqueued


def time_claims(url: str, folder: Path, redis_url: str) -> tuple[float, float]:
    """(best claim-and-enqueue seconds, the claim transactions' share of that run)."""
    space = make_workspace(folder, url)
    settings = Settings(
        database_url=url,
        redis_url=redis_url,
        sequences_dir=space.folder / "sequences",
        templates_dir=space.folder / "templates",
    )
    rt = build_runtime(settings)
    declare_actors(make_broker(settings), rt)
    timings = []
    try:
        for _ in range(3):
            _make_due(rt, DUE)
            claiming: list[float] = []
            started = time.perf_counter()
            claimed = claim_and_enqueue(rt, claiming)
            timings.append((time.perf_counter() - started, sum(claiming)))
            if claimed != DUE:
                raise RuntimeError(f"claimed {claimed} touches, expected {DUE}")
    finally:
        rt.close()
    return min(timings)


def figures(size: Size) -> list[Figure]:
    enrollments = SIZES[size]
    rows = f"{DUE:,} due of {enrollments * 10:,} touches"
    how = "claimed and enqueued to Redis, best of 3"
    result = []
    with tempfile.TemporaryDirectory(prefix="followup-bench-") as tmp, OwnRedis() as redis:
        for backend, name in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
            url = report_database(backend, enrollments)
            seconds, claims = time_claims(url, Path(tmp), redis.url)
            note = f"{how}; the claim statements {claims * 1000:.1f} ms of it"
            result.append(time_figure(f"scheduler claim ({rows}, {name})", seconds, 0.05, note))
    return result
