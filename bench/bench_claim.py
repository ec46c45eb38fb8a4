"""Scheduler claim: 1,000 touches due among 1,000,000 touch rows, claimed and enqueued (the
scheduler tick's claim_and_enqueue: claim batches until none are due, each batch sent to the
touch queue on the bench's own Redis), on SQLite and PostgreSQL. Best of three, each on fresh
due rows; the claim statements' share is timed apart.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.bench_report import START, report_database
from bench.figures import Figure, Size, time_figure
from bench.workspace import OwnRedis, make_workspace
from worker.engine import scheduler_loop
from worker.engine.actors import declare_actors
from worker.engine.broker import make_broker
from worker.engine.db import checkpoint, transaction
from worker.engine.runtime import Runtime, build_runtime
from worker.engine.scheduler_loop import claim_and_enqueue
from worker.engine.settings import Settings
from worker.engine.tunables import QUEUED_LEASE
from worker.flow.scheduling import Claimed

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


def claim_then_enqueue(rt: Runtime, claiming: list[float]) -> int:
    """The tick's claim_and_enqueue, with the claim transactions timed into `claiming`."""
    timed = _TimedClaims(claiming)
    with timed.patched():
        enqueued, _ = claim_and_enqueue(rt, now=NOW, lease_for=QUEUED_LEASE)
    return enqueued


class _TimedClaims:
    """claim_due as the scheduler loop calls it, each call's seconds noted."""

    def __init__(self, claiming: list[float]) -> None:
        self.claiming = claiming

    @contextmanager
    def patched(self) -> Iterator[None]:
        original = scheduler_loop.claim_due

        def timed(*args: Any, **kwargs: Any) -> Claimed:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.claiming.append(time.perf_counter() - started)

        scheduler_loop.claim_due = timed
        try:
            yield
        finally:
            scheduler_loop.claim_due = original


def time_claims(url: str, folder: Path, redis_url: str) -> tuple[float, float]:
    """(best claim-and-enqueue seconds, the claim transactions' share of that run)."""
    space = make_workspace(folder, url)
    settings = Settings(
        database_url=url,
        redis_url=redis_url,
        sequences_dir=space.folder / "sequences",
        templates_dir=space.folder / "templates",
        max_in_flight=10 * DUE,  # the shipped cap (500) would hold half back for the next tick
    )
    rt = build_runtime(settings)
    declare_actors(make_broker(settings), rt)
    timings = []
    try:
        for _ in range(3):
            _make_due(rt, DUE)
            checkpoint(rt.engine)  # as the scheduler loop does after each tick: the WAL empty
            claiming: list[float] = []
            started = time.perf_counter()
            claimed = claim_then_enqueue(rt, claiming)
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
