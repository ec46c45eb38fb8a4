"""Scenario 5, Redis restarted mid-run: the real process is stopped with SHUTDOWN NOSAVE (every
queued touch id is gone) and started again on its port. The workers and the scheduler carry on
by themselves and the database re-drives every lost message: nothing is lost. And at start-up
a Redis that may evict keys is refused with a clear message."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from testkit.chaos.checker import Fault
from testkit.chaos.cluster import Cluster, count_touches, in_flight
from testkit.chaos.facts import due_snapshot
from testkit.chaos.redis_process import RedisProcess
from testkit.chaos.report import Tier, publish
from testkit.chaos.seeding import numbered_leads, release_due, seed_leads
from testkit.chaos.sink import ChaosSink
from testkit.chaos.stories import sequence_yaml, templates_for
from tests.support.processes import Processes, followup_env

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

LEASE_SECONDS = 5.0
SETTLE_LIMIT = 600.0


def test_a_redis_restart_loses_no_touch(
    tmp_path: Path,
    tier: Tier,
    chaos_database_url: str,
    own_redis: RedisProcess,
    chaos_sink: ChaosSink,
    artifacts_dir: Path,
) -> None:
    """Given a run in flight, when Redis is shut down without saving and started again, then
    every touch still ends sent, once."""
    rng = random.Random(tier.seed)
    leads = tier.pick(40, 1000)
    down = tier.pick(3, 10)
    with Cluster(
        tmp_path,
        database_url=chaos_database_url,
        redis_url=own_redis.url,
        sink=chaos_sink,
        sequences={"restart.yaml": sequence_yaml("restart", steps=2)},
        templates=templates_for("restart", steps=2),
        lease_seconds=LEASE_SECONDS,
    ) as cluster:
        seed_leads(cluster.rt, numbered_leads("restart", leads))
        cluster.scheduler("scheduler-1")
        cluster.worker("worker-1", threads=8)
        first_due = (release_due(cluster.rt), due_snapshot(cluster.rt))[1]
        mark = rng.uniform(0.2, 0.6)
        cluster.wait(
            lambda: count_touches(cluster.rt, "sent") >= mark * 2 * leads,
            timeout=SETTLE_LIMIT,
            what=f"{mark:.0%} of the touches sent",
        )
        own_redis.shutdown_nosave()
        stopped_at = time.time()
        queued = frozenset(t for t, status, _ in in_flight(cluster.rt) if status == "queued")
        time.sleep(down)
        own_redis.start()
        back_at = time.time()
        cluster.wait_settled(timeout=SETTLE_LIMIT)
        verdict = cluster.judge(
            "redis-restart",
            tier.seed,
            first_due,
            faults=[Fault("redis-down", stopped_at, back_at, queued)],
        )
    verdict.extra.update(queued_when_stopped=len(queued), down_s=down)
    publish(verdict, tier, artifacts_dir)
    assert verdict.lost == 0, verdict.lost_ids[:20]
    assert verdict.unexpected == 0, verdict.unexpected_ids[:20]
    assert verdict.duplicated == 0
    assert verdict.db_sent == verdict.sink_distinct == 2 * leads


@pytest.mark.parametrize("command", ["worker", "scheduler"])
def test_a_redis_that_may_evict_keys_is_refused_at_start_up(
    tmp_path: Path, chaos_database_url: str, command: str
) -> None:
    """Given a Redis with maxmemory-policy allkeys-lru, when a worker or scheduler starts, then
    it exits at once with an error naming the policy and the setting that fixes it."""
    redis = RedisProcess(tmp_path / "redis", maxmemory_policy="allkeys-lru")
    (tmp_path / "sequences").mkdir()
    (tmp_path / "templates").mkdir()
    env = followup_env(
        database_url=chaos_database_url,
        redis_url=redis.url,
        smtp_url="smtp://127.0.0.1:1",
        folder=tmp_path,
    )
    with redis:
        processes = Processes(env, tmp_path)
        process = processes.start(command, command)
        code = process.popen.wait(timeout=120)
    output = process.output()
    assert code != 0, output
    assert "maxmemory-policy allkeys-lru" in output and "noeviction" in output, output
