"""Scenario 8, the 09:00 herd: leads in twelve zones, every first touch due at 09:00 local on a
Monday, sent from three owners' mailboxes with daily and hourly limits. The processes' clock is
shifted (FOLLOWUP_CLOCK_OFFSET_SECONDS) to a minute before 09:00 in the UTC+1 zones:

- UTC+1 (4 zones): 09:00 arrives during the run, all at once: the herd;
- UTC+2 (4 zones): their 09:00 passed an hour ago: an overdue herd, sent at once;
- UTC+0 (4 zones): due now, but 08:00 there is outside the window: deferred to 09:00, unsent.

The mailbox limits hold, nothing goes out of its window, and the lateness after 09:00 is
reported (p50/p99; the checker's latency includes the overdue UTC+2 hour, herd_lateness_s is
the UTC+1 herd's own)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from testkit.chaos.checker import percentile
from testkit.chaos.cluster import Cluster, count_touches
from testkit.chaos.facts import due_snapshot
from testkit.chaos.redis_process import RedisProcess
from testkit.chaos.report import Tier, publish
from testkit.chaos.seeding import numbered_leads, release_by_zone, seed_leads
from testkit.chaos.sink import ChaosSink
from testkit.chaos.stories import sequence_yaml, templates_for
from tests.support.processes import wait_until

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

HERD_ZONES = ("Europe/Paris", "Europe/Berlin", "Africa/Lagos", "Europe/Warsaw")  # UTC+1
OVERDUE_ZONES = ("Europe/Helsinki", "Africa/Cairo", "Africa/Johannesburg", "Europe/Athens")
EARLY_ZONES = ("Europe/London", "Europe/Lisbon", "Africa/Abidjan", "Atlantic/Reykjavik")
HERD_AT = datetime(2027, 1, 11, 8, 0, tzinfo=UTC)  # Monday 09:00 in the UTC+1 zones
WINDOW = 'days: [mon, tue, wed, thu, fri]\nhours: "09:00-17:00"\ntimezone: lead'
SETTLE_LIMIT = 900.0


def team_yaml(owners: list[str], daily: int, hourly: int) -> str:
    entries = "".join(
        f"  - email: {o}\n    daily_limit: {daily}\n    hourly_limit: {hourly}\n" for o in owners
    )
    return f"owners:\n{entries}"


def nine_local(zone: str) -> datetime:
    """09:00 on HERD_AT's date in `zone`, in UTC."""
    day = HERD_AT.date()
    return datetime(day.year, day.month, day.day, 9, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def test_the_nine_oclock_herd_keeps_limits_and_windows(
    tmp_path: Path,
    tier: Tier,
    chaos_database_url: str,
    own_redis: RedisProcess,
    chaos_sink: ChaosSink,
    artifacts_dir: Path,
) -> None:
    """Given leads in twelve zones due at 09:00 local, when the herd comes, then no mailbox
    goes past its daily or hourly limit, nothing is sent outside a window, nothing is lost."""
    per_zone = tier.pick(8, 150)
    owners = [f"rep{n}@acme.test" for n in range(tier.pick(3, 10))]
    daily, hourly = tier.pick(16, 80), tier.pick(40, 120)  # 2/3 of the due leads fit a day
    zones = (*HERD_ZONES, *OVERDUE_ZONES, *EARLY_ZONES)
    leads = [
        {**lead, "timezone": zone, "owner": owners[n % len(owners)]}
        for z, zone in enumerate(zones)
        for n, lead in enumerate(numbered_leads(f"herd{z:02d}-", per_zone))
    ]
    lead_time = tier.pick(40, 90)  # seconds to seed and start before the UTC+1 herd
    offset = (HERD_AT - timedelta(seconds=lead_time)).timestamp() - time.time()
    with Cluster(
        tmp_path,
        database_url=chaos_database_url,
        redis_url=own_redis.url,
        sink=chaos_sink,
        sequences={
            "herd.yaml": sequence_yaml("herd", steps=1, window=WINDOW, from_="owner"),
            "team.yaml": team_yaml(owners, daily, hourly),
        },
        templates=templates_for("herd", steps=1),
        lease_seconds=30.0,
        clock_offset_seconds=str(offset),
    ) as cluster:
        seed_leads(cluster.rt, leads)
        release_by_zone(
            cluster.rt,
            {
                **{zone: nine_local(zone) for zone in (*HERD_ZONES, *OVERDUE_ZONES)},
                **{zone: cluster.rt.clock.now() for zone in EARLY_ZONES},
            },
        )
        first_due = due_snapshot(cluster.rt, offset)
        cluster.scheduler("scheduler-1")
        cluster.worker("worker-1", threads=8)
        herd_real = HERD_AT.timestamp() - offset
        ready_before = herd_real - time.time()  # negative: the herd waited for the processes
        wait_until(lambda: time.time() > herd_real + 1, timeout=SETTLE_LIMIT, what="09:00")
        cluster.wait(
            lambda: count_touches(cluster.rt, "queued", "sending") == 0 and cluster.due_now() == 0,
            timeout=SETTLE_LIMIT,
            what="the herd sent or deferred",
        )
        verdict = cluster.judge(
            "nine-oclock-herd", tier.seed, first_due, not_due_before=time.time()
        )
        facts = cluster.judge_facts()

    journal = [r for r in chaos_sink.journal() if r.accepted]
    per_owner = Counter(r.sender for r in journal)
    early = {lead["email"] for lead in leads if lead["timezone"] in EARLY_ZONES}
    limited = sum("limit" in (t.reason or "") for t in facts if t.status == "deferred")
    herd = {lead["email"] for lead in leads if lead["timezone"] in HERD_ZONES}
    first_at = {r.message_id: r.at for r in reversed(journal)}
    lateness = sorted(
        first_at[t.message_id] - t.due_at
        for t in facts
        if t.lead_email in herd and t.message_id in first_at
    )
    verdict.extra.update(
        zones=len(zones),
        leads=len(leads),
        owners=len(owners),
        daily_limit=daily,
        hourly_limit=hourly,
        herd_sent=len(lateness),
        ready_before_herd_s=round(ready_before, 1),
        herd_lateness_s=f"p50:{percentile(lateness, 50) or 0:.2f},"
        f"p99:{percentile(lateness, 99) or 0:.2f}",
        busiest_mailbox=max(per_owner.values(), default=0),
        deferred_by_limits=limited,
        early_held=sum(t.lead_email in early and t.status == "deferred" for t in facts),
    )
    publish(verdict, tier, artifacts_dir)
    assert verdict.lost == 0, verdict.lost_ids[:20]
    assert verdict.unexpected == 0, verdict.unexpected_ids[:20]
    assert verdict.duplicated == 0
    assert set(per_owner) <= set(owners) and max(per_owner.values()) <= min(daily, hourly)
    assert not early & {r.rcpt for r in journal}, "sent before 09:00 in a UTC+0 zone"
    assert verdict.extra["early_held"] == len(early)
    assert limited > 0, "no mailbox limit was reached; the herd proved nothing"
