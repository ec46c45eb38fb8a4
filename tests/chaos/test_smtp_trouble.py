"""Scenario 3, SMTP trouble: 451 on 30% of attempts, 421 and a dropped connection on 2%, 550 at
RCPT for a list of addresses, and a sink that stops answering for a while (quick: 5 s, full:
60 s) with the client's timeout short. Transient failures are retried with backoff until sent,
without a retry storm; refused addresses fail once with the reason, are suppressed, and their
later steps never go out."""

from __future__ import annotations

import random
import time
from dataclasses import replace
from pathlib import Path

import pytest
from sqlmodel import Session, select

from models.lead import Lead
from testkit.chaos.checker import Fault
from testkit.chaos.cluster import Cluster, count_touches
from testkit.chaos.facts import due_snapshot
from testkit.chaos.redis_process import RedisProcess
from testkit.chaos.report import Tier, publish
from testkit.chaos.seeding import numbered_leads, release_due, seed_leads
from testkit.chaos.sink import ChaosSink
from testkit.chaos.sink_plan import Verdict
from testkit.chaos.stories import sequence_yaml, templates_for

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

SMTP_TIMEOUT = "2"  # seconds: a silent server costs the client this, then it retries
RETRY_BASE = "0.5"  # seconds, doubled each attempt (production: 30)
STORM_BOUND = 4  # sink transactions per expected touch, at most (30% refused: ~1.5)
SETTLE_LIMIT = 900.0


def test_transient_trouble_is_retried_and_refusals_fail_once(
    tmp_path: Path,
    tier: Tier,
    chaos_database_url: str,
    own_redis: RedisProcess,
    chaos_sink: ChaosSink,
    artifacts_dir: Path,
) -> None:
    """Given a sink refusing 30% (451) and 2% (421 + disconnect), 550 for some addresses and
    silent for a while, then every other touch is sent once, the refused fail once."""
    rng = random.Random(tier.seed)
    leads = numbered_leads("trouble", tier.pick(40, 1000))
    refused = sorted(lead["email"] for lead in rng.sample(leads, tier.pick(2, 10)))
    hang = tier.pick(5, 60)
    chaos_sink.set_plan(
        replace(
            chaos_sink.plan,
            try_later_fraction=0.30,
            closing_fraction=0.02,
            reject_rcpts=tuple(refused),
        )
    )
    with Cluster(
        tmp_path,
        database_url=chaos_database_url,
        redis_url=own_redis.url,
        sink=chaos_sink,
        sequences={"trouble.yaml": sequence_yaml("trouble", steps=2)},
        templates=templates_for("trouble", steps=2),
        lease_seconds=30.0,  # longer than a send with its timeouts: no takeover here
        smtp_timeout_seconds=SMTP_TIMEOUT,
        retry_base_seconds=RETRY_BASE,
    ) as cluster:
        seed_leads(cluster.rt, leads)
        cluster.scheduler("scheduler-1")
        cluster.worker("worker-1", threads=8)
        first_due = (release_due(cluster.rt), due_snapshot(cluster.rt))[1]
        mark = rng.uniform(0.2, 0.5)
        cluster.wait(
            lambda: count_touches(cluster.rt, "sent") >= mark * 2 * len(leads),
            timeout=SETTLE_LIMIT,
            what=f"{mark:.0%} of the touches sent",
        )
        silent_from = time.time()
        chaos_sink.set_plan(replace(chaos_sink.plan, hang_until=silent_from + hang))
        cluster.wait_settled(timeout=SETTLE_LIMIT)
        verdict = cluster.judge(
            "smtp-trouble",
            tier.seed,
            first_due,
            refused=refused,
            faults=[Fault("silent", silent_from, silent_from + hang)],
        )
        with Session(cluster.rt.engine) as session:
            suppressed = {
                lead.email
                for lead in session.exec(select(Lead).where(Lead.suppressed_at.is_not(None)))  # type: ignore[union-attr]
            }
        facts = {(t.lead_email, t.status, bool(t.reason)) for t in cluster.judge_facts()}

    journal = chaos_sink.journal()
    rcpt_refusals = [r.rcpt for r in journal if r.answer is Verdict.REJECTED]
    verdict.extra.update(
        refused=len(refused),
        answers_451=sum(r.answer is Verdict.TRY_LATER for r in journal),
        answers_421=sum(r.answer is Verdict.CLOSING for r in journal),
        silent_s=hang,
        attempts_per_touch=round(verdict.attempts / max(verdict.expected, 1), 2),
    )
    publish(verdict, tier, artifacts_dir)
    assert verdict.lost == 0, verdict.lost_ids[:20]
    assert verdict.unexpected == 0, verdict.unexpected_ids[:20]
    assert verdict.duplicated == 0
    assert verdict.db_sent == verdict.sink_distinct == 2 * (len(leads) - len(refused))
    assert verdict.attempts <= STORM_BOUND * verdict.expected + len(refused)
    # a refused address: one RCPT refusal, failed with the reason, suppressed, nothing after
    assert sorted(rcpt_refusals) == refused
    assert suppressed == set(refused)
    for email in refused:
        assert {(status, reason) for e, status, reason in facts if e == email} == {("failed", True)}
