"""Delivery: the sender, retries, bounces, redeliveries and threads (fakes, virtual clock)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from models.compliance import ComplianceEntry
from models.lead import Lead
from testkit.harness import Harness, Harnesses, template
from worker.engine.db import transaction
from worker.engine.tunables import MAX_ATTEMPTS, QUEUED_LEASE
from worker.flow.scheduling import claim_due
from worker.mail import (
    MaildirMailer,
    PermanentSendError,
    TransientSendError,
    classify_smtp_reply,
)

LEAD = "ana@example.com"
SEQUENCE = """
name: mql
trigger: lead.mql
exit_on: [email.replied]
sla:
  first_touch_within: 1h
steps:
  - id: intro
    email: t/intro
  - id: bump
    email: t/bump
    wait: 1d
    thread: true
  - id: last
    email: t/last
    wait: 1d
"""
TEAM = """
owners:
  - email: ana.rep@acme.test
    name: Ana Rep
"""
TEMPLATES = {
    "t/intro.j2": template("Quick question, {{ lead.first_name | default('there') }}"),
    "t/bump.j2": "{% block text %}Bumping this up.{% endblock %}",
    "t/last.j2": template("Last one"),
}


@pytest.fixture
def h(make_harness: Harnesses) -> Harness:
    return make_harness(sequences={"mql.yaml": SEQUENCE, "team.yaml": TEAM}, templates=TEMPLATES)


def entries(h: Harness, kind: str) -> list[ComplianceEntry]:
    with Session(h.rt.engine) as session:
        return list(session.exec(select(ComplianceEntry).where(ComplianceEntry.kind == kind)))


def test_a_lead_without_owner_is_sent_from_the_default_from(h: Harness) -> None:
    """Given no owner, when the first touch goes out, then it is from FOLLOWUP_DEFAULT_FROM,
    with a Message-ID and the one-click unsubscribe headers."""
    h.event("lead.mql", LEAD)
    h.advance(timedelta(minutes=1))
    [email] = h.sent
    assert email.sender == "Sales <sales@acme.test>"
    assert email.message_id.endswith("@acme.test>")
    headers = dict(email.headers)
    assert headers["List-Unsubscribe"].startswith("<https://followup.test/unsubscribe/")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    [touch] = h.touches(step="intro")
    assert (touch.sender, touch.message_id) == ("Sales <sales@acme.test>", email.message_id)


def test_a_lead_with_an_owner_is_sent_from_the_owners_mailbox(h: Harness) -> None:
    """Given an owner listed in team.yaml, the email is from that rep by name."""
    h.event("lead.mql", LEAD, lead={"owner": "Ana.Rep@acme.test"})
    h.advance(timedelta(minutes=1))
    assert [m.sender for m in h.sent] == ["Ana Rep <ana.rep@acme.test>"]


def test_without_owner_or_default_from_the_touch_fails_permanently_with_a_reason(
    h: Harness,
) -> None:
    """Given neither an owner nor FOLLOWUP_DEFAULT_FROM, the touch fails once, saying why."""
    h.rt.settings = h.settings.with_(default_from=None)
    h.event("lead.mql", LEAD)
    h.advance(timedelta(minutes=1))
    assert h.sent == []
    [touch] = h.touches(step="intro")
    assert touch.status == "failed" and touch.attempts == 1
    assert "no owner and FOLLOWUP_DEFAULT_FROM is unset" in (touch.detail or "")
    [failed] = entries(h, "touch.failed")
    assert failed.step == "intro" and "FOLLOWUP_DEFAULT_FROM" in (failed.detail or "")


def test_a_malformed_default_from_fails_the_touch_instead_of_looping(
    make_harness: Harnesses, tmp_path: Path
) -> None:
    """Given FOLLOWUP_DEFAULT_FROM with a domain no Message-ID can use, the real outbox mailer
    refuses the message: the touch fails once with the reason (it is not re-driven forever)."""
    outbox = MaildirMailer(tmp_path / "outbox")
    h = make_harness(sequences={"mql.yaml": SEQUENCE}, templates=TEMPLATES, mailer=outbox)
    h.rt.settings = h.settings.with_(default_from="Sales <sales@acme_corp.test>")
    h.event("lead.mql", LEAD)
    h.advance(timedelta(minutes=10))
    [intro, bump] = h.touches()
    assert (intro.status, intro.attempts) == ("failed", 1)
    assert (intro.detail or "").startswith("invalid message: ")
    assert bump.status == "scheduled"
    assert not any((tmp_path / "outbox" / "new").glob("*"))


def test_a_redelivered_send_message_sends_nothing_more(h: Harness) -> None:
    """Given a sent touch, when the broker delivers its id again, then nothing is sent twice."""
    h.event("lead.mql", LEAD)
    h.advance(timedelta(minutes=1))
    [touch] = h.touches(step="intro")
    assert touch.status == "sent"
    for _ in range(3):
        h.actors.send_touch.send(touch.id)
    h.drain()
    assert len(h.sent) == 1
    assert h.touches(step="intro")[0].attempts == 1
    assert len(entries(h, "touch.sent")) == 1
    assert len(h.touches(step="bump")) == 1  # the next step was planned once


def test_a_touch_whose_enrollment_exited_while_queued_is_cancelled_not_sent(h: Harness) -> None:
    """Given a touch claimed and queued, when the lead replies before a worker picks it up,
    then the worker finds it cancelled and sends nothing."""
    h.event("lead.mql", LEAD)
    with transaction(h.rt.engine) as session:
        [touch_id] = claim_due(session, now=h.clock.now()).ids
    assert h.touches()[0].status == "queued"
    h.event("email.replied", LEAD)
    h.actors.send_touch.send(touch_id)
    h.drain()
    h.advance(timedelta(days=3))
    assert h.sent == []
    [touch] = h.touches()
    assert (touch.status, touch.detail) == ("cancelled", "exited: email.replied")


def test_a_touch_of_a_suppressed_lead_is_cancelled_by_the_worker(h: Harness) -> None:
    """Given a queued touch, when the address is suppressed behind the engine's back (another
    process), then the worker re-checks and cancels instead of sending."""
    h.event("lead.mql", LEAD)
    with transaction(h.rt.engine) as session:
        [touch_id] = claim_due(session, now=h.clock.now()).ids
        lead = session.exec(select(Lead)).one()
        lead.suppressed_at, lead.suppressed_reason = h.clock.now(), "manual"
        session.add(lead)
    h.actors.send_touch.send(touch_id)
    h.drain()
    assert h.sent == []
    [touch] = h.touches()
    assert (touch.status, touch.detail) == ("cancelled", "address suppressed (manual)")


def test_a_render_error_fails_the_touch_permanently_and_the_sequence_continues(
    h: Harness,
) -> None:
    """Given a template that needs lead.company (the sample lead has one, this lead not),
    the touch fails with a touch.failed entry, and the next step still goes out."""
    (h.settings.templates_dir / "t" / "intro.j2").write_text(
        template("About {{ lead.company }}"), encoding="utf-8"
    )
    h.rt.refresh_catalog(min_interval=0)
    h.event("lead.mql", LEAD)
    h.advance(timedelta(days=3))
    intro, bump, last = h.touches()
    assert (intro.status, intro.attempts) == ("failed", 1)
    assert "render error" in (intro.detail or "") and "company" in (intro.detail or "")
    assert [(e.step, e.detail) for e in entries(h, "touch.failed")] == [
        ("intro", intro.detail),
        ("bump", bump.detail),
    ]
    assert (bump.status, last.status) == ("failed", "sent")  # bump has no first email to thread
    assert "no sent first email to reply to" in (bump.detail or "")
    assert [m.subject for m in h.sent] == ["Last one"]


def test_a_transient_send_error_is_retried_with_backoff_then_sent(h: Harness) -> None:
    """Given two 421 replies, the touch is retried after 30-60s then 60-120s (jittered, recorded
    on the row), and the third attempt is sent with the same Message-ID."""
    start = h.clock.now()
    h.mailer.fail_next(TransientSendError("421 4.7.0 try again later", 421), times=2)
    h.event("lead.mql", LEAD)
    h.tick()
    [touch] = h.touches(step="intro")
    assert (touch.status, touch.attempts) == ("scheduled", 1)
    first_retry = touch.due_at
    assert start + timedelta(seconds=30) <= first_retry <= start + timedelta(seconds=60)
    assert touch.last_error == "attempt 1: 421 4.7.0 try again later"
    h.advance_to(first_retry)
    [touch] = h.touches(step="intro")
    assert touch.attempts == 2
    second_retry = touch.due_at
    assert first_retry + timedelta(seconds=60) <= second_retry <= first_retry + timedelta(minutes=2)
    assert touch.last_error == "attempt 2: 421 4.7.0 try again later"
    h.advance_to(second_retry)
    [touch] = h.touches(step="intro")
    assert (touch.status, touch.attempts, touch.last_error) == ("sent", 3, None)
    assert touch.completed_at == second_retry
    attempts = h.mailer.attempts
    assert len(attempts) == 3 and len({m.message_id for m in attempts}) == 1
    assert entries(h, "touch.failed") == []


def test_a_transient_error_that_never_clears_gives_up_after_the_last_attempt(
    h: Harness,
) -> None:
    """Given an SMTP server down for hours, the touch is retried with jittered, capped backoff
    and, after the last attempt, fails with the reason; the sequence moves on."""
    h.mailer.fail_next(TransientSendError("connection refused"), times=MAX_ATTEMPTS)
    start = h.clock.now()
    h.event("lead.mql", LEAD)
    h.advance(timedelta(hours=8))
    intro, bump = h.touches()
    assert (intro.status, intro.attempts) == ("failed", MAX_ATTEMPTS)
    assert intro.detail == f"gave up after {MAX_ATTEMPTS} attempts: connection refused"
    shortest = [min(30 * 2**n, 1800) for n in range(MAX_ATTEMPTS - 1)]  # 30s doubling, 1-2x,
    longest = [min(60 * 2**n, 3600) for n in range(MAX_ATTEMPTS - 1)]  # 50-100% of the 1h cap
    [failed] = entries(h, "touch.failed")
    waited = failed.at - start
    assert timedelta(seconds=sum(shortest)) <= waited <= timedelta(seconds=sum(longest))
    assert bump.status == "scheduled"


def test_a_lost_broker_message_is_redriven_after_its_lease(h: Harness) -> None:
    """Given a touch claimed but its message lost (Redis restarted), when the queued lease
    expires, the scheduler re-drives it from the database and it is sent once."""
    h.event("lead.mql", LEAD)
    with transaction(h.rt.engine) as session:
        claim_due(session, now=h.clock.now())  # never enqueued
    h.advance(QUEUED_LEASE - timedelta(seconds=10))
    assert h.sent == [] and h.touches()[0].status == "queued"
    h.advance(timedelta(seconds=20))
    assert len(h.sent) == 1
    [touch] = h.touches(step="intro")
    assert (touch.status, touch.attempts) == ("sent", 1)


def test_a_5_1_x_bounce_fails_the_touch_and_suppresses_the_address(h: Harness) -> None:
    """Given 550 5.1.1 (no such user), the touch fails, the address is suppressed, the
    enrollment exits as bounced and nothing more is sent or retried."""
    h.mailer.fail_next(classify_smtp_reply(550, "5.1.1 <ana@example.com>: no such user"))
    h.event("lead.mql", LEAD)
    h.advance(timedelta(days=3))
    assert h.sent == []
    [touch] = h.touches()
    assert (touch.status, touch.attempts) == ("failed", 1)
    assert touch.detail == "550 5.1.1 <ana@example.com>: no such user"
    [enrollment] = h.enrollments()
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "email.bounced")
    assert enrollment.sla_status == "excluded"
    with Session(h.rt.engine) as session:
        lead = session.exec(select(Lead)).one()
    assert lead.suppressed_reason == "email.bounced"
    assert h.event("lead.mql", LEAD, id="again").enrolled == []


def test_a_permanent_error_not_about_the_address_fails_without_suppressing(h: Harness) -> None:
    """Given 552 5.2.2 (mailbox full), the touch fails but the lead stays mailable."""
    h.mailer.fail_next(PermanentSendError("552 5.2.2 mailbox full", 552))
    h.event("lead.mql", LEAD)
    h.advance(timedelta(days=3))
    assert [t.status for t in h.touches()] == ["failed", "failed", "sent"]
    [enrollment] = h.enrollments()
    assert enrollment.status == "completed"
    with Session(h.rt.engine) as session:
        assert session.exec(select(Lead)).one().suppressed_at is None


def test_a_thread_step_replies_as_re_first_subject_even_with_its_own_subject(
    h: Harness,
) -> None:
    """Given `thread: true` on a step whose template has a subject block, the email still goes
    out as "Re: <first subject>": mail clients thread by subject as well as by headers."""
    (h.settings.templates_dir / "t" / "bump.j2").write_text(
        template("A subject of its own"), encoding="utf-8"
    )
    h.rt.refresh_catalog(min_interval=0)
    h.event("lead.mql", LEAD, lead={"first_name": "Ana"})
    h.advance(timedelta(days=3))
    intro, bump, _last = h.sent
    assert bump.subject == "Re: Quick question, Ana"
    assert dict(bump.headers)["In-Reply-To"] == intro.message_id


def test_a_thread_step_without_a_sent_first_email_keeps_its_own_subject(h: Harness) -> None:
    """Given the first email failed, a threaded step with a subject block sends with it."""
    (h.settings.templates_dir / "t" / "intro.j2").write_text(
        template("About {{ lead.company }}"), encoding="utf-8"
    )
    (h.settings.templates_dir / "t" / "bump.j2").write_text(
        template("A subject of its own"), encoding="utf-8"
    )
    h.rt.refresh_catalog(min_interval=0)
    h.event("lead.mql", LEAD)
    h.advance(timedelta(days=3))
    assert [m.subject for m in h.sent] == ["A subject of its own", "Last one"]
    assert "In-Reply-To" not in dict(h.sent[0].headers)


def test_a_thread_step_replies_in_the_first_emails_thread(h: Harness) -> None:
    """Given `thread: true`, the bump goes out as "Re: <first subject>" with In-Reply-To and
    References set to the first email's Message-ID."""
    h.event("lead.mql", LEAD, lead={"first_name": "Ana"})
    h.advance(timedelta(days=3))
    intro, bump, last = h.sent
    assert intro.subject == "Quick question, Ana"
    assert bump.subject == "Re: Quick question, Ana"
    headers = dict(bump.headers)
    assert headers["In-Reply-To"] == intro.message_id
    assert headers["References"] == intro.message_id
    assert bump.message_id != intro.message_id
    assert "In-Reply-To" not in dict(last.headers)
