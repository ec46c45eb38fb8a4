"""The inbox on a Maildir: replies stop sequences, auto-replies hold and resume them, bounces and
complaints suppress, each message once (virtual clock, fakes)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, func, select

from models.compliance import ComplianceEntry
from models.event import Event
from models.inbound import InboundMessage
from models.lead import Lead
from testkit.harness import Harness, done_at
from tests.support.inbox import LEAD, TEAM, drop, dsn, inbox_harness, mail_leads, reply, sent_id
from worker.engine.db import transaction
from worker.flow.pausing import Selection, pause, resume
from worker.inbox import recording
from worker.inbox.maildir_source import MaildirSource
from worker.inbox.watcher import Seen, poll


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = inbox_harness(tmp_path)
    mail_leads(harness, [LEAD, "ben@example.com"])
    try:
        yield harness
    finally:
        harness.close()


def read(h: Harness) -> list[Seen]:
    return poll(h.rt, MaildirSource(h.settings.inbox_dir))


def count(h: Harness, model: type, *where: Any) -> int:
    with Session(h.rt.engine) as session:
        return int(session.exec(select(func.count()).select_from(model).where(*where)).one())


def log_kinds(h: Harness, email: str) -> list[str]:
    with Session(h.rt.engine) as session:
        rows = session.exec(
            select(ComplianceEntry).where(ComplianceEntry.lead_email == email)
        ).all()
        return [str(row.kind) for row in rows]


def test_a_reply_stops_the_sequence_and_says_why(h: Harness) -> None:
    """Given a sent intro, when the lead replies in-thread, the enrollment exits on email.replied,
    one compliance line names the rule, and the file moves to cur/."""
    path = drop(h, "1.eml", reply())
    [seen] = read(h)
    assert seen.decision.outcome == "reply" and seen.decision.lead_email == LEAD
    ana = next(e for e in h.enrollments() if e.lead_id == 1)
    assert (ana.status, ana.exit_reason) == ("exited", "email.replied")
    assert "inbox.reply" in log_kinds(h, LEAD)
    assert not path.exists() and (h.settings.inbox_dir / "cur" / "1.eml:2,S").exists()
    h.advance(timedelta(days=3))
    assert [t.step for t in h.touches(lead_id=1) if t.status == "sent"] == ["intro"]


def test_the_same_message_twice_is_one_event(h: Harness) -> None:
    """Given a reply already read, the same Message-ID in another file is ignored, no event."""
    drop(h, "1.eml", reply())
    read(h)
    drop(h, "2.eml", reply())
    [again] = read(h)
    assert again.decision.outcome == "ignored" and "read before" in again.decision.rule
    assert count(h, Event, Event.type == "email.replied") == 1
    assert read(h) == []  # both files are in cur/: nothing is read a third time


def test_a_database_failure_leaves_the_message_to_be_redone(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given the database failing mid-record, nothing is kept and the next fetch redoes it once."""
    real = recording.apply_event
    calls = {"n": 0}

    def failing_once(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(recording, "apply_event", failing_once)
    path = drop(h, "1.eml", reply())
    with pytest.raises(OperationalError):
        read(h)
    assert path.exists() and count(h, InboundMessage) == 0
    [seen] = read(h)
    assert seen.decision.outcome == "reply"
    assert count(h, Event, Event.type == "email.replied") == 1


def test_an_out_of_office_holds_the_touches_until_the_return_date_then_resumes(h: Harness) -> None:
    """Given the bump due in 2 days, an out-of-office saying back on 10 December holds it; it is
    sent on the 10th by itself. The auto-reply is neither a reply nor a touch."""
    ooo = reply(
        message_id="<ooo@example.com>",
        Subject="Automatic reply: Intro",
        **{"Auto-Submitted": "auto-replied"},
        body="I am out of the office until 10 December 2026.",
    )
    drop(h, "ooo.eml", ooo)
    [seen] = read(h)
    assert seen.decision.outcome == "auto_reply"
    assert seen.decision.hold_until == datetime(2026, 12, 10, tzinfo=UTC)
    assert [t.status for t in h.touches(lead_id=1, step="bump")] == ["held"]
    h.advance(timedelta(days=5))
    assert [t.status for t in h.touches(lead_id=1, step="bump")] == ["held"]
    h.advance(timedelta(days=6))
    [bump] = h.touches(lead_id=1, step="bump")
    assert bump.status == "sent" and bump.completed_at == datetime(2026, 12, 10, tzinfo=UTC)
    ana = h.enrollments()[0]
    assert ana.status == "active" and ana.touches_completed == 2  # intro and bump, no more
    kinds = log_kinds(h, LEAD)
    assert kinds.index("enrollment.held") < kinds.index("enrollment.resumed")


def test_an_out_of_office_without_a_date_holds_for_the_configured_pause(tmp_path: Path) -> None:
    """Given `auto_reply_pause: 3` in team.yaml, an undated out-of-office holds for 3 days."""
    h = inbox_harness(tmp_path, team=TEAM + "auto_reply_pause: 3\n")
    try:
        mail_leads(h, [LEAD])
        drop(h, "ooo.eml", reply(message_id="<o@x.example>", **{"X-Autoreply": "yes"}))
        [seen] = read(h)
        assert seen.decision.hold_until == h.clock.now() + timedelta(days=3)
        assert "no return date" in seen.decision.rule
    finally:
        h.close()


def test_a_manual_pause_and_an_auto_reply_hold_do_not_undo_each_other(h: Harness) -> None:
    """Given an owner's pause, an auto-reply hold ending keeps it paused; resuming before a
    hold ends keeps the touches held until its date."""
    with transaction(h.rt.engine) as session:
        pause(session, Selection(email=LEAD), now=h.clock.now())
    body = "Back on 3 December 2026."
    drop(h, "ooo.eml", reply(message_id="<o1@x.example>", body=body, **{"X-Autoreply": "yes"}))
    read(h)
    h.advance(timedelta(days=4))  # the hold's date has passed: still paused by the owner
    assert h.enrollments()[0].status == "paused"
    assert [t.status for t in h.touches(lead_id=1, step="bump")] == ["held"]
    drop(
        h,
        "ooo2.eml",
        reply(
            message_id="<o2@x.example>", body="Back on 20 December 2026.", **{"X-Autoreply": "yes"}
        ),
    )
    read(h)
    with transaction(h.rt.engine) as session:
        resume(session, Selection(email=LEAD), now=h.clock.now(), versions=h.rt.versions)
    h.advance(timedelta(days=3))
    assert [t.status for t in h.touches(lead_id=1, step="bump")] == ["scheduled"]
    h.advance(timedelta(days=14))
    [bump] = h.touches(lead_id=1, step="bump")
    assert bump.status == "sent" and done_at(bump) >= datetime(2026, 12, 20, tzinfo=UTC)


def test_a_hard_bounce_suppresses_and_a_delay_only_records(h: Harness) -> None:
    """Given a DSN 5.1.1 for ana and a 4.4.1 delay for ben, ana is suppressed, ben goes on."""
    drop(h, "bounce.eml", dsn(LEAD, "failed", "5.1.1"))
    drop(h, "delay.eml", dsn("ben@example.com", "delayed", "4.4.1"))
    outcomes = {s.uid: s.decision.outcome for s in read(h)}
    assert outcomes == {"bounce.eml": "bounce", "delay.eml": "bounce_temporary"}
    with Session(h.rt.engine) as session:
        ana = session.exec(select(Lead).where(Lead.email == LEAD)).one()
        ben = session.exec(select(Lead).where(Lead.email == "ben@example.com")).one()
    assert ana.suppressed_reason and ana.suppressed_reason.startswith(
        "email.bounced: DSN Status: 5.1.1"
    )
    assert ben.suppressed_at is None and h.enrollments()[1].status == "active"
    row = inbound(h, "bounce.eml")
    assert (row.sequence, row.step, row.sending_mailbox) == ("outreach", "intro", "sales@acme.test")


def test_a_complaint_and_a_stop_request_suppress(h: Harness) -> None:
    """An ARF report suppresses with email.complained; 'please stop emailing me' unsubscribes."""
    drop(h, "arf.eml", arf(LEAD))
    stop = (
        reply(message_id="<s@x.example>", body="Please stop emailing me.")
        .replace(LEAD.encode(), b"ben@example.com")
        .replace(sent_id(LEAD).encode(), sent_id("ben@example.com").encode())
    )
    drop(h, "stop.eml", stop)
    outcomes = {s.uid: s.decision.outcome for s in read(h)}
    assert outcomes == {"arf.eml": "complaint", "stop.eml": "unsubscribe"}
    with Session(h.rt.engine) as session:
        rows = session.exec(select(Lead.email, Lead.suppressed_reason)).all()
    reasons = {email: reason or "" for email, reason in rows}
    assert reasons[LEAD].startswith("email.complained")
    assert reasons["ben@example.com"].startswith("lead.unsubscribed")


def test_bad_input_is_classified_or_left_alone_never_a_crash(h: Harness) -> None:
    """Huge attachment, 1,000 References, NUL bytes, garbage, a DSN for a lead never mailed or
    naming another lead: each gets an outcome with a reason, and no event for the wrong lead."""
    huge = reply(message_id="<big@x.example>").replace(
        b"Content-Type: text/plain; charset=utf-8\n\nYes, call me.\n",
        b'Content-Type: multipart/mixed; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\nSee the file.\n"
        b"--b\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n"
        + b"QUJD" * 800_000
        + b"\n--b--\n",
    )
    many = " ".join(f"<ref{i}@x.example>" for i in range(1000))
    drop(h, "huge.eml", huge)
    drop(
        h,
        "refs.eml",
        reply(
            message_id="<refs@x.example>",
            References=many + " " + sent_id(LEAD),
            **{"In-Reply-To": ""},
        ),
    )
    drop(h, "nul.eml", b"From: \x00ana@example.com\nSubject: \x00\xff\n\n\x00\x00")
    drop(h, "garbage.eml", bytes(range(256)) * 40)
    with transaction(h.rt.engine) as session:
        session.add(
            Lead(
                email="never@example.com",
                created_at=h.clock.now(),
                updated_at=h.clock.now(),
                fields={},
            )
        )
    drop(
        h, "never.eml", dsn("never@example.com", "failed", "5.1.1", returned="<unknown@acme.test>")
    )
    drop(h, "other.eml", dsn("ben@example.com", "failed", "5.1.1", returned=sent_id(LEAD)))
    seen = {s.uid: s.decision for s in read(h)}
    assert seen["huge.eml"].outcome == "reply" and seen["refs.eml"].outcome == "reply"
    assert seen["nul.eml"].outcome == "unmatched" and seen["garbage.eml"].outcome == "unmatched"
    assert "never mailed" in seen["never.eml"].rule and seen["never.eml"].outcome == "unmatched"
    assert (
        seen["other.eml"].outcome == "unmatched"
        and "went to ana@example.com" in seen["other.eml"].rule
    )
    with Session(h.rt.engine) as session:
        suppressed = session.exec(select(Lead.email).where(Lead.suppressed_at.is_not(None))).all()  # type: ignore[union-attr]
    assert suppressed == []
    assert count(h, InboundMessage) == 6


def inbound(h: Harness, uid: str) -> InboundMessage:
    with Session(h.rt.engine) as session:
        return session.exec(select(InboundMessage).where(InboundMessage.uid == uid)).one()


def arf(recipient: str) -> bytes:
    return f"""From: feedback@isp.example
To: abuse@acme.test
Subject: Abuse report
Message-ID: <arf-{recipient}@isp.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="F"

--F
Content-Type: text/plain

A user marked your message as spam.

--F
Content-Type: message/feedback-report

Feedback-Type: abuse
Version: 1
Original-Rcpt-To: {recipient}

--F
Content-Type: message/rfc822

From: Sales <sales@acme.test>
To: {recipient}
Message-ID: {sent_id(recipient)}

Hi

--F--
""".encode()


def test_status_and_report_show_what_came_back(h: Harness) -> None:
    """After a reply, a bounce and an out-of-office: status counts them per mailbox, and the
    report gives replies and reply rate per sequence and step, bounces per sending mailbox."""
    from worker.compliance.report import build_report
    from worker.engine.status import collect_status

    drop(h, "reply.eml", reply())
    drop(h, "bounce.eml", dsn("ben@example.com", "failed", "5.1.1"))
    read(h)
    [box] = collect_status(h.rt).mailboxes
    assert box.watched and box.outcomes == {"reply": 1, "bounce": 1} and box.lag_seconds == 0
    with Session(h.rt.engine) as session:
        facts = build_report(session, by="sequence").replies
    assert facts is not None
    [sequence] = facts.by_sequence
    assert (sequence.key, sequence.emailed, sequence.replies, sequence.bounces) == (
        "outreach",
        2,
        1,
        1,
    )
    assert sequence.reply_rate == 0.5
    assert [(s.key, s.emailed, s.replies) for s in facts.by_step] == [("outreach / intro", 2, 1)]
    [mailbox] = facts.by_mailbox
    assert (mailbox.key, mailbox.emailed, mailbox.bounces) == ("sales@acme.test", 2, 1)


def test_a_reply_after_an_out_of_office_cancels_the_held_touches(h: Harness) -> None:
    """Given touches held by an out-of-office, the lead's reply ends them: nothing stays held."""
    drop(h, "ooo.eml", reply(message_id="<o@x.example>", **{"X-Autoreply": "yes"}))
    read(h)
    assert [t.status for t in h.touches(lead_id=1, step="bump")] == ["held"]
    drop(h, "reply.eml", reply())
    read(h)
    assert [t.status for t in h.touches(lead_id=1, step="bump")] == ["cancelled"]
    h.advance(timedelta(days=10))
    assert [t.step for t in h.touches(lead_id=1) if t.status == "sent"] == ["intro"]


def test_a_dsn_naming_our_message_only_in_its_own_fields_still_matches(h: Harness) -> None:
    """Gmail's X-Original-Message-ID, with no returned message: the bounce finds its touch."""
    report = dsn(LEAD, "failed", "5.1.1").replace(
        b"Reporting-MTA: dns; mx.acme.test\n",
        b"Reporting-MTA: dns; googlemail.com\nX-Original-Message-ID: "
        + sent_id(LEAD).encode()
        + b"\n",
    )
    report = report.split(b"--B\nContent-Type: text/rfc822-headers")[0] + b"--B--\n"
    drop(h, "gmail.eml", report)
    [seen] = read(h)
    assert seen.decision.outcome == "bounce"
    assert f"returned Message-ID {sent_id(LEAD)}" in seen.decision.rule
