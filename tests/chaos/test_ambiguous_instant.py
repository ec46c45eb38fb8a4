"""Scenario 4, the ambiguous instant: the sink takes the message but answers only after the
client's timeout. The client cannot know it went out, so the touch is resent under the same
Message-ID: counted ambiguous, and never more than once."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from testkit.chaos.cluster import Cluster
from testkit.chaos.facts import due_snapshot
from testkit.chaos.redis_process import RedisProcess
from testkit.chaos.report import Tier, publish
from testkit.chaos.seeding import numbered_leads, release_due, seed_leads
from testkit.chaos.sink import ChaosSink
from testkit.chaos.sink_plan import Verdict
from testkit.chaos.stories import sequence_yaml, templates_for

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

SMTP_TIMEOUT = 2.0
LATE_FRACTION = 0.15  # of first attempts (none drawn in 80: p < 1e-5)
SETTLE_LIMIT = 900.0


def test_a_late_answer_is_resent_once_under_the_same_message_id(
    tmp_path: Path,
    tier: Tier,
    chaos_database_url: str,
    own_redis: RedisProcess,
    chaos_sink: ChaosSink,
    artifacts_dir: Path,
) -> None:
    """Given a sink answering 15% of first attempts after the client gave up, then each of
    those touches reaches the sink exactly twice with one Message-ID, and nothing else twice."""
    leads = numbered_leads("late", tier.pick(40, 1000))
    late_plan = dict(late_fraction=LATE_FRACTION, late_seconds=SMTP_TIMEOUT + 1.5)
    chaos_sink.set_plan(replace(chaos_sink.plan, **late_plan))  # type: ignore[arg-type]
    with Cluster(
        tmp_path,
        database_url=chaos_database_url,
        redis_url=own_redis.url,
        sink=chaos_sink,
        sequences={"late.yaml": sequence_yaml("late", steps=2)},
        templates=templates_for("late", steps=2),
        lease_seconds=30.0,
        smtp_timeout_seconds=str(SMTP_TIMEOUT),
    ) as cluster:
        seed_leads(cluster.rt, leads)
        cluster.scheduler("scheduler-1")
        cluster.worker("worker-1", threads=8)
        first_due = (release_due(cluster.rt), due_snapshot(cluster.rt))[1]
        cluster.wait_settled(timeout=SETTLE_LIMIT)
        verdict = cluster.judge("ambiguous-instant", tier.seed, first_due)
        sent_ids = {t.message_id for t in cluster.judge_facts() if t.status == "sent"}

    journal = chaos_sink.journal()
    late = {r.message_id for r in journal if r.answer is Verdict.LATE}
    copies = Counter(chaos_sink.accepted_ids())
    verdict.extra.update(late_answers=len(late), max_copies=max(copies.values()))
    publish(verdict, tier, artifacts_dir)
    assert late, "no late answer was drawn; the scenario proved nothing"
    assert verdict.lost == 0, verdict.lost_ids[:20]
    assert verdict.unexpected == 0, verdict.unexpected_ids[:20]
    assert verdict.duplicated == verdict.ambiguous == len(late)
    assert {mid for mid, n in copies.items() if n > 1} == late and max(copies.values()) == 2
    assert late <= sent_ids  # recorded sent under the Message-ID that went out twice
