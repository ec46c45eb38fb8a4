"""Scenario 1, a worker crash: kill -9 the worker three times at seeded random moments and
restart it. Nothing is lost; a touch goes out twice only when a kill landed in the instant
between the sink's acceptance and the commit (counted exactly: the acceptances since the last
kill of touches the database had not recorded sent when the worker died; one touch can be
caught by two kills), and then with its Message-ID."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from testkit.chaos.checker import Fault
from testkit.chaos.cluster import Cluster, count_touches, in_flight, sent_ids, waiting_in_redis
from testkit.chaos.facts import due_snapshot
from testkit.chaos.redis_process import RedisProcess
from testkit.chaos.report import Tier, publish
from testkit.chaos.seeding import numbered_leads, release_due, seed_leads
from testkit.chaos.sink import ChaosSink
from testkit.chaos.stories import sequence_yaml, templates_for

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

KILLS = 3
LEASE_SECONDS = 8.0  # a loopback send takes ~10 ms, its commit on a busy SQLite seconds
SETTLE_LIMIT = 600.0  # seconds; a hang fails with the unfinished touches, never a time check


def test_a_worker_killed_three_times_loses_nothing(
    tmp_path: Path,
    tier: Tier,
    chaos_database_url: str,
    own_redis: RedisProcess,
    chaos_sink: ChaosSink,
    artifacts_dir: Path,
) -> None:
    """Given a few thousand due touches (quick: 80), when the worker is kill -9'd three times
    and restarted, then every touch ends terminal, none is lost, and duplicates <= the kills
    that caught a touch accepted by the sink but not yet committed."""
    rng = random.Random(tier.seed)
    leads = tier.pick(40, 1000)
    with Cluster(
        tmp_path,
        database_url=chaos_database_url,
        redis_url=own_redis.url,
        sink=chaos_sink,
        sequences={"crash.yaml": sequence_yaml("crash", steps=2)},
        templates=templates_for("crash", steps=2),
        lease_seconds=LEASE_SECONDS,
    ) as cluster:
        seed_leads(cluster.rt, numbered_leads("crash", leads))
        cluster.scheduler("scheduler-1")
        worker = cluster.worker("worker-1", threads=8)
        first_due = (release_due(cluster.rt), due_snapshot(cluster.rt))[1]
        faults, caught_in_instant, restarts = [], set(), []
        in_instant, last_kill = 0, 0.0
        for kill, mark in enumerate(sorted(rng.uniform(0.1, 0.8) for _ in range(KILLS)), 1):
            cluster.wait(
                lambda mark=mark: count_touches(cluster.rt, "sent") >= mark * 2 * leads,
                timeout=SETTLE_LIMIT,
                what=f"{mark:.0%} of the touches sent",
            )
            time.sleep(rng.uniform(0, 0.3))  # a random instant, not just after a poll
            cluster.kill(worker)
            at = time.time()
            time.sleep(0.3)  # the sink journals a finished DATA of the dead connection
            flying, waiting = in_flight(cluster.rt), waiting_in_redis(own_redis.url)
            # acceptances since the last kill of touches not recorded sent: caught in the instant
            recorded = sent_ids(cluster.rt)
            unrecorded = [
                r
                for r in chaos_sink.journal()
                if r.accepted and r.at > last_kill and r.message_id not in recorded
            ]
            in_instant += len(unrecorded)
            caught_in_instant |= {r.message_id or "" for r in unrecorded}
            last_kill = at
            held = frozenset(t for t, _, _ in flying if t not in waiting)
            worker = cluster.worker(f"worker-{kill + 1}", threads=8)
            restarts.append(time.time() - at)
            faults.append(Fault(f"kill{kill}", at, time.time(), held))  # healed: a worker is up
        cluster.wait_settled(timeout=SETTLE_LIMIT)
        verdict = cluster.judge(
            "worker-crash", tier.seed, first_due, faults=faults, ambiguous_ids=caught_in_instant
        )
    verdict.extra.update(
        kills=KILLS,
        kills_in_send_instant=in_instant,
        held_by_killed=sum(len(f.stranded) for f in faults),
        restart_s=",".join(f"{seconds:.1f}" for seconds in restarts),
        lease_s=LEASE_SECONDS,
    )
    publish(verdict, tier, artifacts_dir)
    assert verdict.expected == 2 * leads
    assert verdict.lost == 0, verdict.lost_ids[:20]
    assert verdict.unexpected == 0, verdict.unexpected_ids[:20]
    assert verdict.duplicated <= in_instant
    assert verdict.db_sent == verdict.sink_distinct == 2 * leads
