"""Scenario 10, a worker cut off: of two workers, worker-a reaches PostgreSQL and Redis through
TCP proxies the test controls (testkit/chaos/proxy.py). Mid-run the proxies blackhole (accept,
forward nothing, keep every socket open), later heal. Nothing is lost; no touch goes out twice
outside the ack instant; a touch worker-a claimed is taken over only after its lease.

Who did what is exact: each worker sends to a sink of its own, and PostgreSQL's triggers
(testkit/chaos/claim_audit.py) note every claim with its start, its lease and the connection's
application_name."""

from __future__ import annotations

import dataclasses
import json
import random
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from itertools import pairwise
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from models.touch import Touch
from testkit.chaos import claim_audit
from testkit.chaos.checker import Fault, TouchFact, check
from testkit.chaos.cluster import Cluster, count_touches
from testkit.chaos.facts import deliveries, due_snapshot, touch_facts
from testkit.chaos.postgres_instance import PostgresInstance
from testkit.chaos.proxy import TcpProxy
from testkit.chaos.redis_process import RedisProcess
from testkit.chaos.report import Tier, publish
from testkit.chaos.seeding import numbered_leads, release_due, seed_leads
from testkit.chaos.sink import ChaosSink, SinkRecord
from testkit.chaos.sink_plan import SinkPlan
from testkit.chaos.stories import sequence_yaml, templates_for
from tests.chaos.own_services import private_postgres
from tests.support.processes import FollowupProcess, wait_ready

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

LEASE_SECONDS = 4.0
SETTLE_LIMIT = 600.0
CUT_OFF = "worker-a"


def with_name(url: str, name: str) -> str:
    """The URL whose connections PostgreSQL knows as `name` (pg_stat_activity, the audit)."""
    return f"{url}{'&' if '?' in url else '?'}application_name={name}"


def start_worker(cluster: Cluster, name: str, **env: str) -> FollowupProcess:
    """`followup worker` with its own database/Redis/SMTP URLs, run with the cluster's others."""
    overrides = {f"FOLLOWUP_{key.upper()}": value for key, value in env.items()}
    args = ["worker", "--processes", "1", "--threads", "8"]
    process = FollowupProcess(
        name, args, {**cluster.deployment.env, **overrides}, cluster.deployment.folder
    )
    cluster.processes.started.append(process)
    wait_ready(process, "worker started")
    return process


@contextmanager
def proxies_to(postgres: PostgresInstance, redis: RedisProcess) -> Iterator[list[TcpProxy]]:
    with ExitStack() as stack:
        yield [stack.enter_context(TcpProxy(port)) for port in (postgres.port, redis.port)]


def cuts(tier: Tier) -> list[tuple[float, bool]]:
    """(seconds blackholed, whether the heal drops the stalled connections): past the lease, so
    worker-a's touches are taken over; full: also a heal that resets."""
    if tier.full:
        return [(3 * LEASE_SECONDS, False), (3 * LEASE_SECONDS, True)]
    return [(3 * LEASE_SECONDS, False)]


def early_takeovers(
    claims: dict[int, list[claim_audit.Claim]],
    releases: dict[int, list[claim_audit.Release]],
    by: str,
) -> list[int]:
    """Touches claimed again while `by`'s claim of them still had its lease, without `by`
    having ended that claim itself first (sent, retried, handed back)."""
    early = []
    for touch_id, history in claims.items():
        for before, after in pairwise(history):
            if before.app != by or after.began >= (before.lease_until or 0.0):
                continue
            ended = [
                r
                for r in releases.get(touch_id, [])
                if r.app == by and before.began <= r.at <= after.began
            ]
            if not ended:
                early.append(touch_id)
    return early


def sends_outside_lease(
    records: dict[str, list[SinkRecord]],
    claims: dict[int, list[claim_audit.Claim]],
    touch_of: dict[str, int],
) -> list[str]:
    """Message-IDs some worker's sink accepted after the lease of that worker's claim ran out
    (or with no claim of that worker before it)."""
    late = []
    for app, journal in records.items():
        for record in journal:
            if not record.accepted or record.message_id not in touch_of:
                continue
            mine = [
                c
                for c in claims.get(touch_of[record.message_id], [])
                if c.app == app and c.began <= record.at
            ]
            if not mine or record.at > (mine[-1].lease_until or 0.0):
                late.append(record.message_id or "")
    return late


def keep_evidence(
    path: Path,
    journals: dict[str, list[SinkRecord]],
    claims: dict[int, list[claim_audit.Claim]],
    touch_of: dict[str, int],
) -> None:
    """Every acceptance and claim, for reading a failure afterwards."""
    evidence = {
        "accepted": [
            (app, r.at, r.message_id, touch_of.get(r.message_id or ""))
            for app, journal in journals.items()
            for r in journal
            if r.accepted
        ],
        "claims": {str(t): [dataclasses.astuple(c) for c in h] for t, h in claims.items()},
    }
    path.write_text(json.dumps(evidence))


def message_ids(facts: list[TouchFact]) -> dict[str, int]:
    return {fact.message_id: fact.touch_id for fact in facts if fact.message_id}


def test_a_worker_cut_off_mid_run_is_taken_over_only_after_its_lease(
    tmp_path: Path,
    tier: Tier,
    own_redis: RedisProcess,
    chaos_sink: ChaosSink,
    artifacts_dir: Path,
) -> None:
    """Given two workers sending (quick: 300 leads x 2 steps), one through proxies, when its
    proxies blackhole past the lease and heal, then none is lost, every send happened inside
    the sending worker's lease, repeats are only sends whose commit the cut delayed, and no
    touch of the cut-off worker was claimed again before its lease ran out."""
    rng = random.Random(tier.seed)
    leads = tier.pick(300, 1000)
    with (
        private_postgres(claim_audit.SETTINGS) as postgres,
        proxies_to(postgres, own_redis) as (pg_proxy, redis_proxy),
        ChaosSink(tmp_path / "sink-a", SinkPlan(seed=tier.seed)) as sink_a,
    ):
        database = postgres.create_database("cutoff")
        proxied_db = database.replace(f":{postgres.port}/", f":{pg_proxy.port}/")
        proxied_redis = own_redis.url.replace(f":{own_redis.port}/", f":{redis_proxy.port}/")
        with Cluster(
            tmp_path,
            database_url=with_name(database, "direct"),
            redis_url=own_redis.url,
            sink=chaos_sink,
            sequences={"cut.yaml": sequence_yaml("cut", steps=2)},
            templates=templates_for("cut", steps=2),
            lease_seconds=LEASE_SECONDS,
        ) as cluster:
            claim_audit.install(cluster.rt.engine)
            seed_leads(cluster.rt, numbered_leads("cut", leads))
            cluster.scheduler("scheduler-1")
            start_worker(
                cluster,
                CUT_OFF,
                database_url=with_name(proxied_db, CUT_OFF),
                redis_url=proxied_redis,
                smtp_url=sink_a.url,
            )
            start_worker(cluster, "worker-b", database_url=with_name(database, "worker-b"))
            first_due = (release_due(cluster.rt), due_snapshot(cluster.rt))[1]
            faults = []
            plan = cuts(tier)
            for number, (blackhole_for, reset) in enumerate(plan, 1):
                mark = number / (len(plan) + 1)
                cluster.wait(
                    lambda mark=mark: count_touches(cluster.rt, "sent") >= mark * 2 * leads,
                    timeout=SETTLE_LIMIT,
                    what=f"{mark:.0%} of the touches sent",
                )
                time.sleep(rng.uniform(0, 0.3))
                for proxy in (pg_proxy, redis_proxy):
                    proxy.blackhole()
                cut_at = time.time()
                held = held_by(cluster, CUT_OFF)
                time.sleep(blackhole_for)  # the partition itself
                for proxy in (pg_proxy, redis_proxy):
                    proxy.heal(reset=reset)
                faults.append(
                    Fault(f"cut{number}{'-reset' if reset else ''}", cut_at, time.time(), held)
                )
            cluster.wait_settled(timeout=SETTLE_LIMIT)
            cluster.processes.check_alive()
            facts, outside = touch_facts(cluster.rt, first_due)
            claims = claim_audit.claims(cluster.rt.engine)
            releases = claim_audit.releases(cluster.rt.engine)

    journals = {CUT_OFF: sink_a.journal(), "worker-b": chaos_sink.journal()}
    touch_of = message_ids(facts)
    late = sends_outside_lease(journals, claims, touch_of)
    keep_evidence(tmp_path / "evidence.json", journals, claims, touch_of)
    early = early_takeovers(claims, releases, CUT_OFF)
    every = [record for journal in journals.values() for record in journal]
    duplicated = {
        mid for mid in touch_of if sum(r.accepted and r.message_id == mid for r in every) > 1
    }
    verdict = check(
        "worker-cut-off",
        tier.seed,
        facts,
        deliveries(every),
        faults=faults,
        ambiguous_ids=duplicated - set(late),
        outside_window=outside,
    )
    verdict.extra.update(
        cuts=len(plan),
        blackhole_s="+".join(f"{seconds:.0f}" for seconds, _ in plan),
        held_at_cut=sum(len(f.stranded) for f in faults),
        taken_over=sum(1 for h in claims.values() if len({c.app for c in h}) > 1),
        taken_over_early=len(early),
        handed_back=sum(
            r.status == "scheduled" and r.app == CUT_OFF for h in releases.values() for r in h
        ),
        sent_outside_lease=len(late),
        sent_by_cut_off=sum(r.accepted for r in journals[CUT_OFF]),
        lease_s=LEASE_SECONDS,
    )
    publish(verdict, tier, artifacts_dir)
    assert verdict.lost == 0, verdict.lost_ids[:20]
    assert verdict.unexpected == 0, verdict.unexpected_ids[:20]
    assert early == [], f"taken over inside the cut-off worker's lease: {early[:10]}"
    assert late == [], f"sent after the lease ran out (see {tmp_path}/evidence.json): {late[:5]}"
    assert verdict.duplicated == verdict.ambiguous
    assert verdict.db_sent == verdict.sink_distinct == 2 * leads


def held_by(cluster: Cluster, app: str) -> frozenset[int]:
    """Touches in `sending` whose latest claim is `app`'s, read directly (not through a proxy)."""
    with Session(cluster.rt.engine) as session:
        sending = set(session.exec(select(Touch.id).where(col(Touch.status) == "sending")))
    claims = claim_audit.claims(cluster.rt.engine)
    return frozenset(
        int(touch_id or 0)
        for touch_id in sending
        if claims.get(int(touch_id or 0)) and claims[int(touch_id or 0)][-1].app == app
    )
