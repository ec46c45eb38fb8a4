"""Scenario 9, poison input: a template that fails only for some leads' data, a lead whose
custom field is 1 MB, a poison event, a sequence file deleted mid-run and a touch whose render
hangs until the actor's time limit. Each bad one ends with its reason; the rest flow.

A 1 MB field cannot come in through the API, an import or an event (the 64 KB cap refuses it,
clearly); only a row written around the application (an older version, a hand-made SQL import)
holds one, so the scenario stores it that way and sees the render refuse it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from models.enrollment import Enrollment, EnrollmentStatus
from models.event import Event
from models.lead import Lead
from models.touch import Touch
from testkit.chaos.checker import check
from testkit.chaos.cluster import Cluster, count_touches
from testkit.chaos.facts import deliveries, due_snapshot, touch_facts
from testkit.chaos.redis_process import RedisProcess
from testkit.chaos.report import Tier, publish
from testkit.chaos.seeding import numbered_leads, release_due, seed_leads
from testkit.chaos.sink import ChaosSink
from testkit.chaos.stories import sequence_yaml, templates_for
from tests.chaos.own_services import api_client, recorded_late
from worker.engine.db import transaction

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

LEASE_SECONDS = 4.0  # the time limit shrinks with it (tunables.send_bounds): a hang ends soon
SETTLE_LIMIT = 600.0
ONE_MB = "x" * (1024 * 1024)
CAPPED = "x" * (100 * 1024)  # under the API's 1 MiB body cap, over the custom-field caps
# Step one needs the lead's company (the sample lead has one, so the folder loads), prints a
# `bio` if the lead has one, and loops 10^10 times for a lead marked `slow`.
POISON_ONE = """{% block subject %}{{ lead.company }} for {{ lead.first_name }}{% endblock %}
{% block text %}Hi {{ lead.first_name }}.{% if lead.bio %} {{ lead.bio }}{% endif %}
{% if lead.slow %}{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}
{% endif %}{{ unsubscribe_url }}{% endblock %}
"""
STALE = timedelta(seconds=70)  # past STALE_EVENT_AFTER (1 min): the scheduler applies these


def sequences() -> tuple[dict[str, str], dict[str, str]]:
    """`poison` (two steps; step one is the poison template) and `doomed` (three steps, its
    file deleted mid-run)."""
    templates = {**templates_for("poison", steps=2), **templates_for("doomed", steps=3)}
    templates["poison/one.j2"] = POISON_ONE
    doomed = sequence_yaml("doomed", steps=3, wait="2s").replace("lead.mql", "lead.trial")
    return {"poison.yaml": sequence_yaml("poison", steps=2), "doomed.yaml": doomed}, templates


def store_stale_events(cluster: Cluster, good: list[dict[str, Any]]) -> int:
    """Events accepted long ago whose messages were lost: a poison one first (a payload no
    version of EventIn accepts), then good ones. Returns the poison event's id."""
    now = cluster.rt.clock.now()
    payloads: list[dict[str, Any]] = [{"type": "lead.mql", "lead": {"email": "not an address"}}]
    payloads += [{"type": "lead.mql", "lead": lead} for lead in good]
    with transaction(cluster.rt.engine) as session:
        rows = [
            Event(
                type="lead.mql",
                lead_email=str(payload["lead"]["email"]),
                payload=payload,
                occurred_at=now - STALE,
                received_at=now - STALE,
            )
            for payload in payloads
        ]
        session.add_all(rows)
        session.flush()
        return int(rows[0].id or 0)


def big_lead(bio: str) -> dict[str, Any]:
    return {"email": "big@example.com", "fields": {"bio": bio}}


def give_field(cluster: Cluster, email: str, fields: dict[str, Any]) -> None:
    """Write a lead's custom fields around the application (no cap applies)."""
    with transaction(cluster.rt.engine) as session:
        session.execute(update(Lead).where(col(Lead.email) == email).values(fields=fields))


def step_one_outcomes(cluster: Cluster, emails: list[str]) -> dict[str, tuple[str, str]]:
    """(status, reason) of step one of `poison` for each of `emails`."""
    with Session(cluster.rt.engine) as session:
        rows = session.exec(
            select(Lead.email, Touch.status, Touch.detail, Touch.last_error)
            .join(Touch, col(Touch.lead_id) == Lead.id)
            .join(Enrollment, col(Enrollment.id) == Touch.enrollment_id)
            .where(col(Lead.email).in_(emails), Touch.step == "one")
            .where(Enrollment.sequence == "poison")
        ).all()
    return {
        email: (str(status), str(detail or error or "")) for email, status, detail, error in rows
    }


def test_poison_input_fails_alone_with_reasons(
    tmp_path: Path,
    tier: Tier,
    chaos_database_url: str,
    own_redis: RedisProcess,
    chaos_sink: ChaosSink,
    artifacts_dir: Path,
) -> None:
    """Given a run with poison in it (quick: 100 good leads), when it plays out, then the
    company-less leads' first touches fail with a render error, the 1 MB lead's with the block
    size, the hanging one is abandoned after its re-drives, the poison event is dead with its
    error, the API refuses a 1 MB field in one clear line, the deleted sequence's enrollments
    finish on their pinned version, and everything else is delivered once."""
    count = tier.pick(100, 500)
    sequence_files, templates = sequences()
    good = numbered_leads("good", count, company="Acme")
    bare = numbered_leads("bare", tier.pick(5, 50))  # no company: step one cannot render
    slow = numbered_leads("slow", tier.pick(1, 3), company="Acme")
    huge = numbered_leads("huge", 1, company="Acme")
    late = numbered_leads("late", tier.pick(10, 100), company="Acme")  # the stale good events
    trial = numbered_leads("trial", tier.pick(20, 100))
    with Cluster(
        tmp_path,
        database_url=chaos_database_url,
        redis_url=own_redis.url,
        sink=chaos_sink,
        sequences=sequence_files,
        templates=templates,
        lease_seconds=LEASE_SECONDS,
    ) as cluster:
        seed_leads(cluster.rt, good + bare + slow + huge)
        seed_leads(cluster.rt, trial, trigger="lead.trial")
        for lead in slow:
            give_field(cluster, lead["email"], {"slow": True})
        give_field(cluster, huge[0]["email"], {"bio": ONE_MB})
        cluster.scheduler("scheduler-1")
        cluster.worker("worker-1", threads=8)
        cluster.worker("worker-2", threads=8)
        with api_client(cluster) as api:
            refused = {
                size: api.post("/events", json={"type": "lead.mql", "lead": big_lead(size)})
                for size in (ONE_MB, CAPPED)
            }
            first_due = (release_due(cluster.rt), due_snapshot(cluster.rt))[1]
            poison_event = store_stale_events(cluster, late)
            cluster.wait(
                lambda: count_touches(cluster.rt, "sent") >= len(trial),
                timeout=SETTLE_LIMIT,
                what="the first sends",
            )
            (cluster.deployment.folder / "sequences" / "doomed.yaml").unlink()
            cluster.wait_settled(timeout=SETTLE_LIMIT)
        cluster.processes.check_alive()
        facts, outside = touch_facts(cluster.rt, first_due)
        poisoned = [lead["email"] for lead in bare + slow + huge]
        outcomes = step_one_outcomes(cluster, poisoned)
        with Session(cluster.rt.engine) as session:
            event = session.get(Event, poison_event)
            late_applied = session.exec(
                select(Event).where(col(Event.lead_email).like("late%"))
            ).all()
            doomed = session.exec(select(Enrollment).where(Enrollment.sequence == "doomed")).all()
            big_stored = session.exec(select(Lead).where(Lead.email == "big@example.com")).first()

    verdict = check(
        "poison-input",
        tier.seed,
        facts,
        deliveries(chaos_sink.journal()),
        refused=poisoned,
        ambiguous_ids=recorded_late(tmp_path),
        outside_window=outside,
    )
    verdict.extra.update(
        render_failed=sum("render error" in reason for _, reason in outcomes.values()),
        abandoned=sum("abandoned after" in reason for _, reason in outcomes.values()),
        poison_event_failures=event.failures if event else None,
        deleted_sequence_completed=sum(e.status == EnrollmentStatus.COMPLETED for e in doomed),
        api_1mb=refused[ONE_MB].status_code,
        api_100kb=refused[CAPPED].status_code,
    )
    publish(verdict, tier, artifacts_dir)
    assert verdict.lost == 0, verdict.lost_ids[:20]
    assert verdict.unexpected == 0, verdict.unexpected_ids[:20]
    assert verdict.duplicated == verdict.ambiguous  # only sends whose commit came late
    # the rest flow: both steps of every good, late and slow/bare/huge lead's step two; three of
    # every trial lead's
    flowing = 2 * (len(good) + len(late)) + len(poisoned) + 3 * len(trial)
    assert verdict.expected == verdict.delivered == flowing
    for lead in bare:
        status, reason = outcomes[lead["email"]]
        assert status == "failed" and "render error" in reason and "company" in reason, reason
    for lead in slow:
        status, reason = outcomes[lead["email"]]
        assert status == "failed" and "abandoned after" in reason, reason
    status, reason = outcomes[huge[0]["email"]]
    assert status == "failed" and "render error" in reason and "over" in reason, reason
    assert event is not None and event.processed_at is None and event.dead_at is not None
    assert event.last_error and "lead.email" in event.last_error, event.last_error  # names it
    assert all(row.processed_at is not None for row in late_applied)
    assert all(e.status == EnrollmentStatus.COMPLETED for e in doomed) and doomed
    assert big_stored is None
    assert refused[ONE_MB].status_code == 413, refused[ONE_MB].text  # over the 1 MiB body cap
    assert refused[CAPPED].status_code == 422, refused[CAPPED].text  # over the field cap
    assert "custom field 'bio' is longer than 10000" in refused[CAPPED].text, refused[CAPPED].text
