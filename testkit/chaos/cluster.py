"""A Cluster: one followup deployment on a database, a Redis and a chaos sink, with real
`followup scheduler` / `followup worker` subprocesses the test starts, kills and restarts.

Builds on tests/support/processes.py (FollowupProcess, Processes, Deployment): each process is
its own session, kill -9 reaches its children, its output lands in <name>.log and is printed
when a test fails. Names must be unique per run (worker-1, worker-2, ...: one log each).

    with Cluster(tmp_path, database_url=..., redis_url=redis.url, sink=sink,
                 sequences=..., templates=..., lease_seconds=4) as cluster:
        seed_leads(cluster.rt, numbered_leads("c", 2000))
        cluster.scheduler("scheduler-1"); w = cluster.worker("worker-1", threads=8)
        release_due(cluster.rt)
        cluster.kill(w)
        cluster.wait_settled(timeout=300)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import Session, col, func, select

from models.enrollment import OPEN_STATUSES, Enrollment
from models.touch import FINAL, WAITING, Touch
from testkit.chaos.checker import TouchFact, Verdict, check
from testkit.chaos.facts import deliveries, touch_facts
from testkit.chaos.sink import ChaosSink
from tests.support.processes import (
    Deployment,
    FollowupProcess,
    Processes,
    wait_ready,
    wait_until,
)
from worker.engine.runtime import Runtime

SETTLE_POLL = 0.5
IN_FLIGHT = 64  # FOLLOWUP_MAX_IN_FLIGHT: ids queued or sending at once across the schedulers


class Cluster:
    """The deployment (folders, env, a runtime in the test process) and its processes."""

    def __init__(
        self,
        folder: Path,
        *,
        database_url: str,
        redis_url: str,
        sink: ChaosSink,
        sequences: dict[str, str],
        templates: dict[str, str],
        lease_seconds: float = 4.0,
        **extra: str,
    ) -> None:
        self.sink = sink
        # sized, as tunables.MAX_IN_FLIGHT asks, to what one worker sends within a short lease
        extra.setdefault("max_in_flight", str(IN_FLIGHT))
        self.deployment = Deployment(
            folder,
            database_url=database_url,
            redis_url=redis_url,
            smtp_url=sink.url,
            sequences=sequences,
            templates=templates,
            lease_seconds=str(lease_seconds),
            **extra,
        )
        self.lease_seconds = lease_seconds
        self.clock_offset = float(extra.get("clock_offset_seconds", 0.0))
        self.processes = Processes(self.deployment.env, folder)

    @property
    def rt(self) -> Runtime:
        return self.deployment.rt

    def scheduler(self, name: str) -> FollowupProcess:
        """Start `followup scheduler` and wait for its start line."""
        process = self.processes.scheduler(name)
        wait_ready(process, "scheduler started")
        return process

    def worker(self, name: str, *, threads: int = 8) -> FollowupProcess:
        """Start `followup worker --processes 1 --threads N` and wait until it consumes."""
        process = self.processes.worker(name, processes=1, threads=threads)
        wait_ready(process, "worker started")
        return process

    def kill(self, process: FollowupProcess) -> None:
        """kill -9 (the whole process group); it is expected dead from now on."""
        self.processes.kill(process)

    def terminate(self, process: FollowupProcess) -> int:
        """SIGTERM and wait (SIGKILL after the stop timeout); returns the exit code."""
        self.processes.expected_dead.add(process.name)
        return process.stop()

    def open_work(self) -> tuple[int, int]:
        """(touches not final, enrollments still open)."""
        with Session(self.rt.engine) as session:
            touches = session.exec(
                select(func.count()).select_from(Touch).where(col(Touch.status).not_in(FINAL))
            ).one()
            enrollments = session.exec(
                select(func.count())
                .select_from(Enrollment)
                .where(col(Enrollment.status).in_(OPEN_STATUSES))
            ).one()
        return int(touches), int(enrollments)

    def due_now(self) -> int:
        """Touches waiting (scheduled/deferred) whose due time has come on the processes' clock."""
        with Session(self.rt.engine) as session:
            return int(
                session.exec(
                    select(func.count())
                    .select_from(Touch)
                    .where(
                        col(Touch.status).in_(WAITING),
                        col(Touch.due_at) <= self.rt.clock.now(),
                    )
                ).one()
            )

    def wait_settled(self, *, timeout: float) -> None:
        """Until every touch is final and every enrollment ended (all steps played out)."""
        wait_until(
            lambda: self.open_work() == (0, 0),
            timeout=timeout,
            processes=self.processes,
            poll=SETTLE_POLL,
            explain=self.deployment.unfinished,
            what="every touch final and every enrollment ended",
        )

    def wait(self, condition: Any, *, timeout: float, what: str) -> Any:
        """wait_until with this cluster's processes checked alive on every poll."""
        return wait_until(condition, timeout=timeout, processes=self.processes, what=what)

    def judge(
        self, scenario: str, seed: int, first_due: dict[int, float] | None = None, **options: Any
    ) -> Verdict:
        """The checker's verdict on the database and the sink journal as they are now
        (`options`: check()'s refused, faults, ambiguous_ids, not_due_before)."""
        facts, outside = touch_facts(self.rt, first_due, self.clock_offset)
        records = deliveries(self.sink.journal())
        return check(scenario, seed, facts, records, outside_window=outside, **options)

    def judge_facts(self) -> list[TouchFact]:
        """The email touches as the checker sees them (for a scenario's own assertions)."""
        return touch_facts(self.rt, offset=self.clock_offset)[0]

    def close(self) -> None:
        self.processes.stop_all()
        self.deployment.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is not None:
            import sys

            print(self.processes.dump(), file=sys.stderr)
        self.close()


def count_touches(rt: Runtime, *statuses: str) -> int:
    """How many touches are in one of `statuses` right now."""
    with Session(rt.engine) as session:
        return int(
            session.exec(
                select(func.count()).select_from(Touch).where(col(Touch.status).in_(statuses))
            ).one()
        )


def in_flight(rt: Runtime) -> list[tuple[int, str, str | None]]:
    """(touch id, status, Message-ID) of every touch queued or being sent right now."""
    with Session(rt.engine) as session:
        rows = session.exec(
            select(Touch.id, Touch.status, Touch.message_id).where(
                col(Touch.status).in_(("queued", "sending"))
            )
        ).all()
    return [(int(touch_id or 0), str(status), mid) for touch_id, status, mid in rows]


def waiting_in_redis(redis_url: str, queue: str = "touches") -> set[int]:
    """Touch ids whose message still waits in the Redis queue (not yet taken by any worker):
    with in_flight(), what a dead worker held is the rest."""
    import json

    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        ids = client.lrange(f"dramatiq:{queue}", 0, -1)
        bodies = client.hmget(f"dramatiq:{queue}.msgs", ids) if ids else []
    finally:
        client.close()
    waiting: set[int] = set()
    for body in bodies:
        if body:  # send_touch carries one id, send_touches a batch's list of them
            first = json.loads(body)["args"][0]
            waiting.update(int(i) for i in (first if isinstance(first, list) else [first]))
    return waiting


def sent_ids(rt: Runtime) -> set[str]:
    """Message-IDs of the touches the database has recorded sent."""
    with Session(rt.engine) as session:
        rows = session.exec(select(Touch.message_id).where(col(Touch.status) == "sent")).all()
    return {mid for mid in rows if mid}
