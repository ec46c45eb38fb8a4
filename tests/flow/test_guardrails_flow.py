"""Guardrails on the virtual clock: hard bounces (5xx refusals and email.bounced) or complaints
past their share of a mailbox's or a sequence's recent sends pause it; its touches are held,
not lost; status and `mailboxes list` show it; `mailboxes resume` releases the held touches."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import Session, col, select

from models.notification import WebhookDelivery
from testkit.harness import Harness, Harnesses, template
from tests.support.cli import Cli
from worker.engine.status import collect_status
from worker.mail import PermanentSendError

SEQUENCE = """
name: s
trigger: lead.mql
from: owner
steps:
  - id: intro
    email: t/intro
  - id: bump
    email: t/bump
    wait: 1d
"""
TEAM = """
owners:
  - email: ana@acme.test
    name: Ana
  - email: ben@acme.test
    name: Ben
guardrails:
  min_sends: 20
  max_bounce_rate: 0.1
"""
TEMPLATES = {"t/intro.j2": template("Intro"), "t/bump.j2": template("Bump")}
BOUNCE = PermanentSendError("550 5.1.1 no such user", 550, suppress=True)


@pytest.fixture
def h(make_harness: Harnesses) -> Harness:
    return make_harness(
        sequences={"s.yaml": SEQUENCE, "team.yaml": TEAM}, templates=TEMPLATES, threads=4
    )


def enroll(h: Harness, owner: str, count: int, prefix: str) -> list[str]:
    emails = [f"{prefix}{n}@example.com" for n in range(count)]
    for email in emails:
        h.event("lead.mql", email, lead={"owner": owner})
    return emails


def test_smtp_bounces_pause_the_mailbox_and_a_resume_releases_its_held_touches(
    make_harness: Harnesses,
    database_url: str | None,
    cli: Cli,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Given 25 intros from ana of which 5 are refused 550 5.1.1 (20% > 10% after 20 sends),
    and 30 from ben (the sequence: 5 of 55, under 10%), when the next tick runs, ana is paused:
    her bumps a day later are held, while ben's go out; status and `mailboxes list` say so.
    When ana is resumed, every held bump is sent. (On SQLite, and PostgreSQL when present.)"""
    h = make_harness(
        sequences={"s.yaml": SEQUENCE, "team.yaml": TEAM},
        templates=TEMPLATES,
        threads=4,
        database_url=database_url,
    )
    ana = enroll(h, "ana@acme.test", 25, "a")
    ben = enroll(h, "ben@acme.test", 30, "b")
    for email in ana[:5]:
        h.mailer.fail_for(email, BOUNCE)
    h.tick()
    assert len(h.sent) == 50 and len(h.touches(status="failed")) == 5
    h.tick()  # the guardrails count what the last tick sent
    status = collect_status(h.rt)
    [paused] = status.paused
    assert (paused.scope, paused.name) == ("mailbox", "ana@acme.test")
    assert paused.reason == "hard bounces 5 of 25 sends (20.0%) passed 10.0%"
    h.advance(timedelta(days=1, hours=1))
    held = h.touches(status="held")
    assert len(held) == 20 and {t.step for t in held} == {"bump"}
    assert all("mailbox ana@acme.test paused by the guardrails" in (t.detail or "") for t in held)
    assert sorted(m.to for m in h.sent if m.subject == "Bump") == sorted(ben)
    followup = cli.on(h)
    assert followup("mailboxes", "list", "--format", "json") == 0
    listed = {s["name"]: s for s in json.loads(capsys.readouterr().out)}
    assert listed["ana@acme.test"]["paused_at"] is not None
    assert (listed["ana@acme.test"]["sends"], listed["ana@acme.test"]["bounces"]) == (25, 5)
    assert listed["ben@acme.test"]["paused_at"] is None
    assert followup("status") == 0
    assert "paused mailbox ana@acme.test" in capsys.readouterr().out
    assert followup("mailboxes", "resume", "ana@acme.test") == 0
    assert "resumed ana@acme.test: 20 held touch(es) released" in capsys.readouterr().out
    h.advance(timedelta(minutes=5))
    bumps = [m.to for m in h.sent if m.subject == "Bump"]
    assert len(bumps) == 50 and not h.touches(status="held")
    assert collect_status(h.rt).paused == []


def test_the_bounces_that_tripped_a_pause_count_once(h: Harness, cli: Cli) -> None:
    """After a resume the counts start again from it: the same bounces do not pause again."""
    ana = enroll(h, "ana@acme.test", 25, "a")
    enroll(h, "ben@acme.test", 30, "b")
    for email in ana[:5]:
        h.mailer.fail_for(email, BOUNCE)
    h.tick()
    h.tick()
    assert collect_status(h.rt).paused
    assert cli.on(h)("mailboxes", "resume", "ana@acme.test") == 0
    h.advance(timedelta(hours=2))
    assert collect_status(h.rt).paused == []


def test_bounce_events_trip_it_too_and_old_ones_fall_out_of_the_window(h: Harness) -> None:
    """email.bounced after delivery (a DSN through the inbox, or posted) counts for the email
    it answers; bounces older than the window (7 days) are not counted."""
    ana = enroll(h, "ana@acme.test", 30, "a")
    h.tick()
    for email in ana[:2]:
        h.event("email.bounced", email)
    h.advance(timedelta(days=7, hours=12))  # the window now starts after the intros, before
    # the bumps of day one: the two first bounces (about intros) fall out of it
    for email in ana[2:4]:
        h.event("email.bounced", email)
    h.tick()
    assert collect_status(h.rt).paused == []  # 2 recent bounces of 28 bumps sent in the window
    for email in ana[4:6]:
        h.event("email.bounced", email)
    h.tick()
    paused = {(p.scope, p.name): p.reason for p in collect_status(h.rt).paused}
    assert set(paused) == {("mailbox", "ana@acme.test"), ("sequence", "s")}  # ana's alone
    assert paused[("mailbox", "ana@acme.test")].startswith("hard bounces 4 of 28 sends")


def test_a_sequence_pauses_on_its_own_figures_across_mailboxes(make_harness: Harnesses) -> None:
    """Given min_sends 30, two mailboxes with 20 sends each are too small to judge, but their
    sequence has 40 sends and 2 complaints (5% > 0.3%): the sequence pauses, not the mailboxes,
    and every touch of that sequence is held."""
    team = TEAM.replace("min_sends: 20", "min_sends: 30")
    h = make_harness(sequences={"s.yaml": SEQUENCE, "team.yaml": team}, templates=TEMPLATES)
    ana = enroll(h, "ana@acme.test", 20, "a")
    ben = enroll(h, "ben@acme.test", 20, "b")
    h.tick()
    h.event("email.complained", ana[0])
    h.event("email.complained", ben[0])
    h.tick()
    [paused] = collect_status(h.rt).paused
    assert (paused.scope, paused.name) == ("sequence", "s")
    assert paused.reason == "complaints 2 of 40 sends (5.00%) passed 0.30%"
    h.advance(timedelta(days=1, hours=1))
    assert len(h.touches(status="held")) == 38  # the complainers were suppressed and exited
    assert len(h.sent) == 40


def test_resuming_what_is_not_paused_is_one_line_and_exit_2(
    h: Harness, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing to resume: the message lists what is paused (nothing)."""
    assert cli.on(h)("mailboxes", "resume", "ana@acme.test") == 2
    assert "nothing paused is named 'ana@acme.test' (paused now: none)" in capsys.readouterr().err


def test_a_resume_leaves_a_hand_paused_enrollment_held(h: Harness, cli: Cli) -> None:
    """A guardrail resume releases only what the guardrail held: a lead whose enrollment was
    paused by hand stays held until `enrollments resume`, then its touch goes when its
    remaining wait (the day it had when paused) has passed."""
    ana = enroll(h, "ana@acme.test", 25, "a")
    enroll(h, "ben@acme.test", 30, "b")
    for email in ana[:5]:
        h.mailer.fail_for(email, BOUNCE)
    h.tick()
    h.tick()
    followup = cli.on(h)
    assert followup("enrollments", "pause", "--email", ana[10]) == 0
    h.advance(timedelta(days=1, hours=1))
    assert followup("mailboxes", "resume", "ana@acme.test") == 0
    h.advance(timedelta(minutes=5))
    [still] = h.touches(status="held")
    assert still.step == "bump" and ana[10] not in [m.to for m in h.sent if m.subject == "Bump"]
    assert followup("enrollments", "resume", "--email", ana[10]) == 0
    h.advance(timedelta(days=1, minutes=5))
    assert ana[10] in [m.to for m in h.sent if m.subject == "Bump"]


ALERTING_TEAM = """
owners:
  - email: ana@acme.test
    name: Ana
    manager: maria@acme.test
  - email: ben@acme.test
    name: Ben
  - email: maria@acme.test
    name: Maria
guardrails:
  min_sends: 20
  max_bounce_rate: 0.1
alerts:
  from: "Followup <alerts@acme.test>"
webhooks:
  - url: http://127.0.0.1:9/hooks
    secret_env: HOOK_SECRET
    events: [sending.paused, sending.resumed]
"""


def test_a_pause_tells_the_owner_and_manager_once_and_publishes_the_events(
    make_harness: Harnesses, cli: Cli
) -> None:
    """Given alerts and a webhook in team.yaml, when ana's mailbox is paused, Ana and her manager
    Maria each get one "Sending paused" email (Ben, whose mailbox is fine, none), a second tick
    tells nobody again, and the outbox holds `sending.paused`; resuming publishes
    `sending.resumed` with the number of touches released."""
    h = make_harness(
        sequences={"s.yaml": SEQUENCE, "team.yaml": ALERTING_TEAM},
        templates=TEMPLATES,
        threads=4,
        environment={"HOOK_SECRET": "s" * 32},
    )
    ana = enroll(h, "ana@acme.test", 25, "a")
    enroll(h, "ben@acme.test", 30, "b")
    for email in ana[:5]:
        h.mailer.fail_for(email, BOUNCE)
    h.tick()
    h.tick()
    h.tick()
    told = [(m.to, m.subject) for m in h.sent if m.sender.endswith("<alerts@acme.test>")]
    assert sorted(told) == [
        ("ana@acme.test", "Sending paused: ana@acme.test"),
        ("maria@acme.test", "Sending paused: ana@acme.test"),
    ]
    [alert] = [m for m in h.sent if m.to == "maria@acme.test"]
    assert "hard bounces 5 of 25 sends (20.0%) passed 10.0%" in alert.text
    assert "followup mailboxes resume ana@acme.test" in alert.text
    h.advance(timedelta(days=1, hours=1))  # her bumps are due, and held
    assert cli.on(h)("mailboxes", "resume", "ana@acme.test") == 0
    with Session(h.rt.engine) as session:
        events = session.exec(select(WebhookDelivery).order_by(col(WebhookDelivery.id))).all()
    bodies = [json.loads(e.body) for e in events]
    assert [b["type"] for b in bodies] == ["sending.paused", "sending.resumed"]
    assert bodies[0]["data"]["name"] == "ana@acme.test"
    assert bodies[0]["data"]["owners"] == ["ana@acme.test"]
    assert bodies[1]["data"]["released"] == 20
