"""Scenario 7, unsubscribe and reply races: while a run is in flight, half of the leads
unsubscribe (the one-click POST of the real API) and a fifth reply (email.replied through the
API and the workers). No touch whose claim began after its exit was committed goes out.

The instants come from PostgreSQL itself (testkit/chaos/claim_audit.py): when each claiming
transaction began, and when each exit committed (track_commit_timestamp), so the check is exact,
not a guess from log times. A claim that began before the commit may still go out: the spec's
guarantee is about what starts after the commit."""

from __future__ import annotations

import dataclasses
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from models.touch import Touch
from testkit.chaos import claim_audit
from testkit.chaos.checker import TouchFact, check
from testkit.chaos.cluster import Cluster, count_touches
from testkit.chaos.facts import deliveries, due_snapshot, touch_facts
from testkit.chaos.redis_process import RedisProcess
from testkit.chaos.report import Tier, publish
from testkit.chaos.seeding import numbered_leads, release_due, seed_leads
from testkit.chaos.sink import ChaosSink, SinkRecord
from testkit.chaos.stories import sequence_yaml, templates_for
from tests.chaos.own_services import api_client, private_postgres, recorded_late
from worker.auth.tokens import unsubscribe_url

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

LEASE_SECONDS = 4.0
SETTLE_LIMIT = 600.0
STEPS = 3
SENDERS = 4  # concurrent clients of the API


def stop_lead(api: httpx.Client, keys: tuple[str, ...], how: str, email: str) -> None:
    """One unsubscribe (the link's POST) or one reply (an event), through the real API."""
    if how == "unsubscribe":
        url = unsubscribe_url(str(api.base_url).rstrip("/"), email, keys=keys)
        response = api.post(url, data={"List-Unsubscribe": "One-Click"})
        assert response.status_code == 200, response.text
    else:
        response = api.post("/events", json={"type": "email.replied", "lead": {"email": email}})
        assert response.status_code == 202, response.text


def stop_instants(
    touches: dict[int, tuple[int, int, str]],
    exits: dict[int, claim_audit.Exit],
    suppressions: dict[int, float],
) -> dict[int, float]:
    """When each touch's lead was stopped: its enrollment's exit or its lead's suppression
    committed, whichever came first (a lead whose enrollment had just completed when the
    unsubscribe committed is suppressed with no exit)."""
    stopped = {}
    for touch_id, (enrollment_id, lead_id, _) in touches.items():
        exit_ = exits.get(enrollment_id)
        moments = [exit_.committed] if exit_ else []
        moments += [suppressions[lead_id]] if lead_id in suppressions else []
        if moments:
            stopped[touch_id] = min(moments)
    return stopped


def late_claims(
    touches: dict[int, tuple[int, int, str]],
    claims: dict[int, list[claim_audit.Claim]],
    stopped: dict[int, float],
) -> tuple[list[int], set[int]]:
    """(sent touches whose last claim began after their lead was stopped: the violations; sent
    touches of stopped leads claimed before it: legitimate)."""
    late, before = [], set()
    for touch_id, (_, _, status) in touches.items():
        stop = stopped.get(touch_id)
        if status != "sent" or stop is None:
            continue
        began = max(claim.began for claim in claims[touch_id])
        (late.append(touch_id) if began >= stop else before.add(touch_id))
    return late, before


def accepted_after_exit(
    facts: list[TouchFact],
    before: set[int],
    records: list[SinkRecord],
    stopped_at: dict[int, float],
) -> list[int]:
    """Touches claimed before their exit committed (at `stopped_at[touch]`) that reached the sink
    after it: the race the spec allows, counted."""
    first: dict[str, float] = {}
    for record in sorted(records, key=lambda r: r.at):
        if record.accepted and record.message_id:
            first.setdefault(record.message_id, record.at)
    return [
        fact.touch_id
        for fact in facts
        if fact.touch_id in before
        and first.get(fact.message_id or "", 0.0) > stopped_at[fact.touch_id]
    ]


def excuse_claimed_before(facts: list[TouchFact], before: set[int]) -> list[TouchFact]:
    """Touches claimed before their exit committed may arrive after it: not unexpected."""
    return [
        dataclasses.replace(fact, suppressed_at=None, ended_at=None)
        if fact.touch_id in before
        else fact
        for fact in facts
    ]


def test_unsubscribes_and_replies_mid_run_stop_every_later_claim(
    tmp_path: Path,
    tier: Tier,
    own_redis: RedisProcess,
    chaos_sink: ChaosSink,
    artifacts_dir: Path,
) -> None:
    """Given 3-step runs in flight (quick: 200 leads), when half of the leads unsubscribe and a
    fifth reply through the API, then no touch claimed after its exit committed goes out,
    nothing is lost and nothing else is unexpected."""
    rng = random.Random(tier.seed)
    count = tier.pick(200, 1000)
    with (
        private_postgres(claim_audit.SETTINGS) as postgres,
        Cluster(
            tmp_path,
            database_url=postgres.create_database("races"),
            redis_url=own_redis.url,
            sink=chaos_sink,
            sequences={"race.yaml": sequence_yaml("race", steps=STEPS)},
            templates=templates_for("race", steps=STEPS),
            lease_seconds=LEASE_SECONDS,
        ) as cluster,
    ):
        claim_audit.install(cluster.rt.engine)
        leads = numbered_leads("race", count)
        seed_leads(cluster.rt, leads)
        cluster.scheduler("scheduler-1")
        cluster.worker("worker-1", threads=8)
        cluster.worker("worker-2", threads=8)
        with api_client(cluster) as api:
            first_due = (release_due(cluster.rt), due_snapshot(cluster.rt))[1]
            cluster.wait(
                lambda: count_touches(cluster.rt, "sent") >= count // 4,
                timeout=SETTLE_LIMIT,
                what="a quarter of the first touches sent",
            )
            emails = [lead["email"] for lead in leads]
            rng.shuffle(emails)
            stops = [("unsubscribe", e) for e in emails[: count // 2]]
            stops += [("reply", e) for e in emails[count // 2 : count // 2 + count // 5]]
            rng.shuffle(stops)
            keys = cluster.rt.key_ring
            with ThreadPoolExecutor(SENDERS) as pool:
                list(pool.map(lambda stop: stop_lead(api, keys, *stop), stops))
            cluster.wait_settled(timeout=SETTLE_LIMIT)
        facts, outside = touch_facts(cluster.rt, first_due)
        with Session(cluster.rt.engine) as session:
            rows = session.exec(
                select(Touch.id, Touch.enrollment_id, Touch.lead_id, Touch.status)
            ).all()
        touches = {int(t or 0): (int(e or 0), int(ld or 0), str(s)) for t, e, ld, s in rows}
        claims, exits = claim_audit.claims(cluster.rt.engine), claim_audit.exits(cluster.rt.engine)
        suppressions = claim_audit.suppressions(cluster.rt.engine)

    stopped = stop_instants(touches, exits, suppressions)
    late, before = late_claims(touches, claims, stopped)
    records = chaos_sink.journal()
    stopped_at = {t: stopped[t] for t in before}
    verdict = check(
        "unsubscribe-reply-races",
        tier.seed,
        excuse_claimed_before(facts, before),
        deliveries(records),
        ambiguous_ids=recorded_late(tmp_path),
        outside_window=outside,
    )
    verdict.extra.update(
        unsubscribed=count // 2,
        replied=count // 5,
        exits=len(exits),
        claimed_after_exit_sent=len(late),
        claimed_before_exit_accepted_after=len(
            accepted_after_exit(facts, before, records, stopped_at)
        ),
        cancelled=sum(1 for *_, status in touches.values() if status == "cancelled"),
        suppressed_with_no_exit=sum(1 for t in before if touches[t][0] not in exits),
    )
    publish(verdict, tier, artifacts_dir)
    assert late == [], f"sent on a claim that began after the exit committed: {late[:10]}"
    assert verdict.lost == 0, verdict.lost_ids[:20]
    assert verdict.unexpected == 0, verdict.unexpected_ids[:20]
    assert verdict.duplicated == verdict.ambiguous  # only sends whose commit came late
    assert verdict.db_sent == verdict.sink_distinct
    assert exits and verdict.extra["cancelled"], "no stop landed mid-run; nothing was tested"
