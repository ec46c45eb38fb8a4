"""Outbound webhooks and Slack alerts against real HTTP receivers on 127.0.0.1.

The receivers fail some requests and answer others after the sender's timeout; backoff runs
on the virtual clock, HTTP timeouts are real (0.3 s), so the tests take seconds, not a day.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from models.notification import DeliveryStatus, WebhookDelivery
from testkit.harness import Harness, template
from tests.support.slack_blocks import block_kit_problems
from tests.support.webhook_receiver import Received, webhook_receiver
from worker.cli.app import run_cli
from worker.mail import MemoryMailer, PermanentSendError, TransientSendError
from worker.notify.loop import Notifier

pytestmark = pytest.mark.integration
SECRET = "whsec-test-1234"
TIMEOUT = 0.3
SEQUENCE = """
name: inbound
trigger: lead.mql
exit_on: [email.replied]
sla:
  first_touch_within: 1h
  min_touches: 2
  within: 1d
steps:
  - id: intro
    email: t/intro
  - id: bump
    email: t/bump
    wait: 2h
"""
TEAM = """
owners:
  - email: ana@acme.test
    name: Ana Rep
webhooks:
  - url: URL
    events: all
    secret_env: HOOK_SECRET
    name: crm
"""
LEADS = [f"lead{n}@example.com" for n in range(8)]


def flaky(event_id: str, attempt: int) -> str:
    """A quarter fail once then answer late, a quarter answer late once, a quarter fail twice."""
    kind = int(hashlib.sha256(event_id.encode()).hexdigest(), 16) % 4
    plan = {0: ["fail", "slow"], 1: ["slow"], 2: ["fail", "fail"], 3: []}[kind]
    return plan[attempt - 1] if attempt <= len(plan) else "ok"


def deployed(tmp_path: Path, url: str, *, notify_inline: bool = True) -> Harness:
    return Harness(
        tmp_path,
        sequences={"inbound.yaml": SEQUENCE, "team.yaml": TEAM.replace("URL", url)},
        templates={"t/intro.j2": template("Intro"), "t/bump.j2": template("Bump")},
        environment={"HOOK_SECRET": SECRET},
        notifier_timeout=TIMEOUT,
        notify_inline=notify_inline,
    )


def deliveries(h: Harness) -> list[WebhookDelivery]:
    with Session(h.rt.engine) as session:
        return list(session.exec(select(WebhookDelivery).order_by(col(WebhookDelivery.id))))


def play(h: Harness) -> None:
    """Enrollments, sends, a bounce, a reply, an unsubscribe, met and breached verdicts."""
    mailer = h.mailer
    assert isinstance(mailer, MemoryMailer)
    mailer.fail_for(LEADS[2], PermanentSendError("5.1.1 no such user", 550, suppress=True))
    mailer.fail_for(LEADS[3], TransientSendError("451 greylisted"))  # late: a breach
    for lead in LEADS:
        h.event("lead.mql", lead, lead={"owner": "ana@acme.test"})
    h.advance(timedelta(minutes=30))
    h.event("email.replied", LEADS[0])
    h.event("lead.unsubscribed", LEADS[1])
    h.advance(timedelta(days=1, hours=1))


def settle(h: Harness, rounds: int = 40) -> None:
    """Let retries come due on the virtual clock until nothing is pending."""
    for _ in range(rounds):
        h.notifier.drain()
        if all(d.status != DeliveryStatus.PENDING for d in deliveries(h)):
            return
        h.clock.advance(timedelta(seconds=31))


@pytest.fixture
def flaky_receiver() -> Iterator[tuple[Received, str]]:
    received = Received(SECRET, flaky, slow_seconds=TIMEOUT * 3)
    with webhook_receiver(received.handle) as url:
        yield received, url


def test_every_event_reaches_the_receivers_idempotency_check_exactly_once(
    tmp_path: Path, flaky_receiver: tuple[Received, str]
) -> None:
    """Given a receiver that fails or times out on purpose, when the story plays and retries
    run, then every event id written to the outbox passed its signature check and arrived
    at its idempotency check once (repeats only as duplicates with the same body), none lost."""
    received, url = flaky_receiver
    h = deployed(tmp_path, url)
    try:
        play(h)
        settle(h)
        rows = deliveries(h)
    finally:
        h.close()
    assert rows and all(r.status == DeliveryStatus.DELIVERED for r in rows)
    assert sorted(received.processed) == sorted(r.event_id for r in rows)
    assert received.bad_signatures == 0
    assert all(len(bodies) == 1 for bodies in received.bodies.values())
    assert received.duplicates > 0 and sum(received.attempts.values()) > len(rows)
    types = {p["type"] for p in received.payloads}
    assert {"enrollment.started", "touch.sent", "touch.failed", "sla.met", "sla.breached"} <= types
    assert {"lead.replied", "lead.bounced", "lead.unsubscribed"} <= types
    bounce = next(p for p in received.payloads if p["type"] == "lead.bounced")
    assert bounce["data"]["lead"] == LEADS[2] and bounce["id"].startswith("evt_")
    assert set(bounce) == {"id", "type", "occurred_at", "data"}


def test_a_receiver_that_never_answers_is_dead_after_a_day_and_retry_redrives_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every attempt fails: the first retry comes within 30 s, then backoff, then after 24 h
    the delivery is dead with the reason; `followup webhooks retry --dead` makes it pending."""
    received = Received(SECRET, lambda _id, _n: "fail")
    with webhook_receiver(received.handle) as url:
        h = deployed(tmp_path, url)
        try:
            h.event("lead.mql", LEADS[0], lead={"owner": "ana@acme.test"})
            [started, *_] = deliveries(h)
            first_try = h.clock.now()
            h.notifier.drain()
            [again] = [d for d in deliveries(h) if d.id == started.id]
            assert again.status == "pending" and again.due_at - first_try <= timedelta(seconds=30)
            for _ in range(30):
                h.clock.advance(timedelta(hours=1))
                h.notifier.drain()
            [dead] = [d for d in deliveries(h) if d.id == started.id]
        finally:
            h.close()
    assert dead.status == DeliveryStatus.DEAD and "HTTP 500" in (dead.last_error or "")
    assert dead.attempts > 5
    monkeypatch.setenv("FOLLOWUP_DATABASE_URL", h.settings.database_url)
    monkeypatch.setenv("FOLLOWUP_SEQUENCES_DIR", str(h.settings.sequences_dir))
    monkeypatch.setenv("FOLLOWUP_TEMPLATES_DIR", str(h.settings.templates_dir))
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    assert run_cli(["webhooks", "list", "--status", "dead"]) == 0
    assert "HTTP 500" in capsys.readouterr().out
    assert run_cli(["webhooks", "retry", "--dead"]) == 0
    with Session(h.rt.engine) as session:
        statuses = set(session.exec(select(WebhookDelivery.status)).all())
    assert statuses == {"pending"}


def test_a_stuck_receiver_never_slows_sending(tmp_path: Path) -> None:
    """Given the notifier's threads all held by a receiver that does not answer, when leads
    arrive and the scheduler ticks, then every email still goes out (the send path never
    waits for a webhook)."""
    arrived, gate = threading.Event(), threading.Event()

    def stuck(_headers: Any, _body: bytes) -> tuple[int, float]:
        arrived.set()
        gate.wait(30)
        return 200, 0.0

    with webhook_receiver(stuck) as url:
        h = deployed(tmp_path, url, notify_inline=False)
        stop = threading.Event()
        background = Notifier(h.rt, threads=1, timeout=60)
        runner = threading.Thread(target=background.run, args=(stop,), daemon=True)
        try:
            h.event("lead.mql", LEADS[0], lead={"owner": "ana@acme.test"})
            runner.start()
            assert arrived.wait(10), "the notifier never posted"
            for lead in LEADS[1:]:
                h.event("lead.mql", lead, lead={"owner": "ana@acme.test"})
            h.tick()
            assert sorted(m.to for m in h.sent) == sorted(LEADS)
        finally:
            gate.set()
            stop.set()
            runner.join(timeout=30)
            background.close()
            h.close()


def test_slack_alerts_keep_to_the_block_kit_format(tmp_path: Path) -> None:
    """An at-risk alert posted to a local stand-in for Slack's incoming webhook is valid
    Block Kit (header, section, context) with a notification text."""
    posted: list[Any] = []

    def slack(_headers: Any, body: bytes) -> tuple[int, float]:
        posted.append(json.loads(body))
        return 200, 0.0

    with webhook_receiver(slack) as url:
        team = TEAM.split("webhooks:")[0] + (
            "alerts:\n  channels: [slack]\n  slack_webhook_env: SLACK_URL\n  at_risk: [owner]\n"
        )
        h = Harness(
            tmp_path,
            sequences={
                "inbound.yaml": SEQUENCE.replace("email: t/intro", "task: Call"),
                "team.yaml": team,
            },
            templates={"t/bump.j2": template("Bump")},
            environment={"SLACK_URL": url},
        )
        try:
            h.event("lead.mql", LEADS[0], lead={"owner": "ana@acme.test"})
            h.advance(timedelta(minutes=50))
        finally:
            h.close()
    assert len(posted) == 1 and block_kit_problems(posted[0]) == []
    assert "lead0@example.com" in posted[0]["blocks"][1]["text"]["text"]
