"""Scenario 6, PostgreSQL restarted mid-run (the test's own cluster, never the shared one):
the scheduler and the workers reconnect by themselves, nothing is lost, and no email reaches the
sink without a committed claim (its Message-ID is written by the claim's transaction, so a
Message-ID the database does not hold went out on a claim that never committed)."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from models.touch import Touch
from testkit.chaos.checker import Fault, check
from testkit.chaos.cluster import Cluster, count_touches, in_flight
from testkit.chaos.facts import deliveries, due_snapshot, touch_facts
from testkit.chaos.postgres_instance import PostgresInstance, StopMode
from testkit.chaos.redis_process import RedisProcess
from testkit.chaos.report import Tier, publish
from testkit.chaos.seeding import numbered_leads, release_due, seed_leads
from testkit.chaos.sink import ChaosSink, SinkRecord
from testkit.chaos.stories import sequence_yaml, templates_for
from tests.chaos.own_services import private_postgres, recorded_late

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

LEASE_SECONDS = 4.0
SETTLE_LIMIT = 600.0  # a hang fails with the unfinished touches; never a time check
SEND_INSTANT = 1.0  # seconds before a crash in which an accepted send may miss its commit


@pytest.fixture
def own_postgres() -> Iterator[PostgresInstance]:
    """A PostgreSQL of this test's own (the only one a fault may stop)."""
    with private_postgres() as instance:
        yield instance


def restarts(tier: Tier) -> list[tuple[StopMode, float]]:
    """(how PostgreSQL goes down, seconds it stays down): quick one crash; full also a clean
    shutdown and a longer outage than the lease."""
    if tier.full:
        return [("immediate", 3.0), ("fast", 2 * LEASE_SECONDS), ("immediate", 1.0)]
    return [("immediate", 2.0)]


def claimless(records: list[SinkRecord], claimed: set[str]) -> list[str]:
    """Accepted Message-IDs the database holds no claim for."""
    return sorted({r.message_id or "" for r in records if r.accepted} - claimed)


def outage_duplicates(records: list[SinkRecord], faults: list[Fault]) -> set[str]:
    """Message-IDs accepted again whose first acceptance came while PostgreSQL was down (or just
    before): accepted by the sink, but the commit that records it could not happen."""
    accepted = sorted((r for r in records if r.accepted and r.message_id), key=lambda r: r.at)
    copies = Counter(r.message_id for r in accepted)
    first: dict[str, float] = {}
    for record in accepted:
        first.setdefault(record.message_id or "", record.at)
    return {
        mid
        for mid, at in first.items()
        if copies[mid] > 1 and any(f.at - SEND_INSTANT <= at <= f.healed_at for f in faults)
    }


def test_postgres_restarted_mid_run_loses_nothing(
    tmp_path: Path,
    tier: Tier,
    own_postgres: PostgresInstance,
    own_redis: RedisProcess,
    chaos_sink: ChaosSink,
    artifacts_dir: Path,
) -> None:
    """Given due touches being sent (quick: 300 leads x 2 steps), when PostgreSQL is crashed
    (full: also shut down cleanly, and kept down past the lease) and started again, then the
    same processes carry on, every touch ends terminal, none is lost, every accepted Message-ID
    has a committed claim, and a repeat happens only to a send accepted during the outage."""
    rng = random.Random(tier.seed)
    leads = tier.pick(300, 1000)
    with Cluster(
        tmp_path,
        database_url=own_postgres.create_database("chaos"),
        redis_url=own_redis.url,
        sink=chaos_sink,
        sequences={"pg.yaml": sequence_yaml("pg", steps=2)},
        templates=templates_for("pg", steps=2),
        lease_seconds=LEASE_SECONDS,
    ) as cluster:
        seed_leads(cluster.rt, numbered_leads("pg", leads))
        cluster.scheduler("scheduler-1")
        cluster.worker("worker-1", threads=8)
        cluster.worker("worker-2", threads=8)
        first_due = (release_due(cluster.rt), due_snapshot(cluster.rt))[1]
        faults: list[Fault] = []
        plan = restarts(tier)
        for number, (mode, down_for) in enumerate(plan, 1):
            mark = number / (len(plan) + 1)
            cluster.wait(
                lambda mark=mark: count_touches(cluster.rt, "sent") >= mark * 2 * leads,
                timeout=SETTLE_LIMIT,
                what=f"{mark:.0%} of the touches sent",
            )
            time.sleep(rng.uniform(0, 0.3))  # a seeded instant, not just after a poll
            flying = frozenset(touch_id for touch_id, _, _ in in_flight(cluster.rt))
            down_at = time.time()
            own_postgres.stop(mode)
            time.sleep(down_for)  # the outage itself (the processes are left to cope)
            own_postgres.start()
            faults.append(Fault(f"pg-{mode}{number}", down_at, time.time(), flying))
            cluster.processes.check_alive()  # nobody died of it
        cluster.wait_settled(timeout=SETTLE_LIMIT)
        cluster.processes.check_alive()
        facts, outside = touch_facts(cluster.rt, first_due)
        with Session(cluster.rt.engine) as session:
            claimed = set(
                session.exec(select(Touch.message_id).where(col(Touch.message_id).is_not(None)))
            )

    records = chaos_sink.journal()
    explained = outage_duplicates(records, faults) | recorded_late(tmp_path)
    verdict = check(
        "postgres-restart",
        tier.seed,
        facts,
        deliveries(records),
        faults=faults,
        ambiguous_ids=explained,
        outside_window=outside,
    )
    unclaimed = claimless(records, {str(mid) for mid in claimed})
    verdict.extra.update(
        restarts=len(plan),
        modes="+".join(mode for mode, _ in plan),
        down_s="+".join(f"{down:.0f}" for _, down in plan),
        without_claim=len(unclaimed),
        lease_s=LEASE_SECONDS,
    )
    publish(verdict, tier, artifacts_dir)
    assert verdict.expected == 2 * leads
    assert verdict.lost == 0, verdict.lost_ids[:20]
    assert verdict.unexpected == 0, verdict.unexpected_ids[:20]
    assert unclaimed == [], f"sent without a committed claim: {unclaimed[:10]}"
    assert verdict.duplicated == verdict.ambiguous, "a repeat not explained by an outage"
    assert verdict.db_sent == verdict.sink_distinct == 2 * leads
