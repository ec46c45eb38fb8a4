"""Scenario 2, schedulers: three run at once, one is kill -9'd mid-run and another started in
its place. Every claim is a compare-and-set, so no scheduler enqueues a touch the database did
not claim for it (the schedulers' JSON logs against a trigger's record of claims), and nothing
is lost or sent twice."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from testkit.chaos.checker import Fault
from testkit.chaos.claims import claims_in_log, claims_made, double_claims, install_claim_audit
from testkit.chaos.cluster import Cluster, count_touches
from testkit.chaos.facts import due_snapshot
from testkit.chaos.redis_process import RedisProcess
from testkit.chaos.report import Tier, publish
from testkit.chaos.seeding import numbered_leads, release_due, seed_leads
from testkit.chaos.sink import ChaosSink
from testkit.chaos.stories import sequence_yaml, templates_for

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

LEASE_SECONDS = 6.0
SETTLE_LIMIT = 600.0


def test_three_schedulers_and_a_crash_claim_no_touch_twice(
    tmp_path: Path,
    tier: Tier,
    chaos_database_url: str,
    own_redis: RedisProcess,
    chaos_sink: ChaosSink,
    artifacts_dir: Path,
) -> None:
    """Given three schedulers on one database, when one is kill -9'd mid-run and a fourth
    starts, then every touch is claimed once per lease, sent once, and none is lost."""
    rng = random.Random(tier.seed)
    leads = tier.pick(40, 1000)
    with Cluster(
        tmp_path,
        database_url=chaos_database_url,
        redis_url=own_redis.url,
        sink=chaos_sink,
        sequences={"herd.yaml": sequence_yaml("sched", steps=2)},
        templates=templates_for("sched", steps=2),
        lease_seconds=LEASE_SECONDS,
        log_format="json",
    ) as cluster:
        seed_leads(cluster.rt, numbered_leads("sched", leads))
        install_claim_audit(cluster.rt.engine)
        schedulers = [cluster.scheduler(f"scheduler-{n}") for n in (1, 2, 3)]
        cluster.worker("worker-1", threads=8)
        first_due = (release_due(cluster.rt), due_snapshot(cluster.rt))[1]
        mark = rng.uniform(0.2, 0.6)
        cluster.wait(
            lambda: count_touches(cluster.rt, "sent") >= mark * 2 * leads,
            timeout=SETTLE_LIMIT,
            what=f"{mark:.0%} of the touches sent",
        )
        victim = rng.choice(schedulers)
        cluster.kill(victim)
        killed_at = time.time()
        cluster.scheduler("scheduler-4")
        cluster.wait_settled(timeout=SETTLE_LIMIT)
        verdict = cluster.judge(
            "scheduler-crash",
            tier.seed,
            first_due,
            faults=[Fault(f"kill-{victim.name}", killed_at, killed_at)],
        )
        made = claims_made(cluster.rt.engine)
    claims = [
        claim
        for n in (1, 2, 3, 4)
        for claim in claims_in_log(tmp_path / f"scheduler-{n}.log", f"scheduler-{n}")
    ]
    doubles = double_claims(claims, made)
    verdict.extra.update(
        schedulers="3+1",
        claims_logged=len(claims),
        claims_made=sum(made.values()),
        double_claims=sum(doubles.values()),
        killed=victim.name,
    )
    publish(verdict, tier, artifacts_dir)
    assert doubles == {}
    assert verdict.lost == 0, verdict.lost_ids[:20]
    assert verdict.unexpected == 0, verdict.unexpected_ids[:20]
    assert verdict.duplicated == 0
    assert verdict.db_sent == verdict.sink_distinct == 2 * leads
