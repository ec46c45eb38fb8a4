"""`make demo`'s inbox: four simulated leads answer through the inbox Maildir (a reply, an
out-of-office with a return date, a hard bounce as a real DSN, a complaint as an ARF report)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Any

from sqlmodel import col, select

from models.compliance import ComplianceEntry, ComplianceKind
from models.enrollment import Enrollment
from models.inbound import InboundMessage
from models.lead import Lead
from models.touch import Touch, TouchStatus
from worker.engine.db import reading
from worker.engine.runtime import Runtime
from worker.inbox.maildir_source import MaildirSource
from worker.inbox.watcher import poll

KINDS = ("reply", "out_of_office", "bounce", "complaint")
AFTER = {"reply": timedelta(days=2), "out_of_office": timedelta(days=1, hours=4),
         "bounce": timedelta(hours=3), "complaint": timedelta(days=3)}  # fmt: skip
AWAY = timedelta(days=6)  # the out-of-office's return date, from its arrival


@dataclass
class Answer:
    at: datetime
    kind: str
    email: str
    name: str


class DemoInbox:
    """Writes each answer into the inbox's new/ when it is due, then lets the watcher read it."""

    def __init__(self, rt: Runtime, answers: list[Answer]) -> None:
        self.rt = rt
        self.pending = sorted(answers, key=lambda a: a.at)
        self.answers = list(self.pending)
        self.source = MaildirSource(rt.settings.inbox_dir)

    def next_at(self) -> datetime | None:
        return self.pending[0].at if self.pending else None

    def run(self, now: datetime) -> None:
        due = [a for a in self.pending if a.at <= now]
        for answer in due:
            sent = self._sent_id(answer.email)
            if sent is None:  # its first email has not gone out yet: answer an hour later
                answer.at = now + timedelta(hours=1)
                continue
            self.pending.remove(answer)
            self._drop(answer, message(answer, sent, now))
        if due:
            poll(self.rt, self.source)
        self.pending.sort(key=lambda a: a.at)

    def lines(self) -> list[str]:
        """What came back and what it did, one line per answer, from the database."""
        out = []
        with reading(self.rt.engine) as session:
            for answer in self.answers:
                row = session.exec(
                    select(InboundMessage).where(InboundMessage.lead_email == answer.email)
                ).first()
                enrollment = session.exec(
                    select(Enrollment)
                    .join(Lead, col(Lead.id) == Enrollment.lead_id)
                    .where(Lead.email == answer.email)
                ).first()
                holds = session.exec(
                    select(ComplianceEntry.kind, ComplianceEntry.at).where(
                        ComplianceEntry.lead_email == answer.email,
                        col(ComplianceEntry.kind).in_(
                            (ComplianceKind.ENROLLMENT_HELD, ComplianceKind.ENROLLMENT_RESUMED)
                        ),
                    )
                ).all()
                outcome = f"{row.outcome} ({row.rule[:90]})" if row else "not read"
                state = "-" if enrollment is None else str(enrollment.status)
                if enrollment is not None and enrollment.exit_reason:
                    state += f", {enrollment.exit_reason}"
                hold = "; ".join(
                    f"{kind.removeprefix('enrollment.')} {at:%a %d %b %H:%M}" for kind, at in holds
                )
                out.append(f"{answer.email}: {outcome} -> {state}" + (f"; {hold}" if hold else ""))
        return out

    def _sent_id(self, email: str) -> str | None:
        with reading(self.rt.engine) as session:
            return session.exec(
                select(Touch.message_id)
                .join(Lead, col(Lead.id) == Touch.lead_id)
                .where(Lead.email == email, Touch.status == TouchStatus.SENT)
                .order_by(col(Touch.completed_at))
            ).first()

    def _drop(self, answer: Answer, data: bytes) -> None:
        folder = self.rt.settings.inbox_dir
        for sub in ("tmp", "new", "cur"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        name = f"{int(answer.at.timestamp())}.{answer.kind}.demo"
        path = folder / "tmp" / name
        path.write_bytes(data)
        moment = self.rt.clock.now().timestamp()  # arrival in simulated time, not the wall clock
        os.utime(path, (moment, moment))
        path.rename(folder / "new" / name)  # delivered atomically, as mail delivery agents do


def pick_answers(steps: Sequence[Any]) -> list[Answer]:
    """The first four leads that do nothing else in the scenario (demo Steps), one kind each."""
    events: dict[str, list[Any]] = {}
    for step in steps:
        events.setdefault(step.event.lead.email, []).append(step)
    quiet = [found[0] for found in events.values() if len(found) == 1]
    return [
        Answer(
            at=step.at + AFTER[kind],
            kind=kind,
            email=step.event.lead.email,
            name=step.event.lead.first_name or "Lead",
        )
        for kind, step in zip(KINDS, quiet, strict=False)
    ]


def message(answer: Answer, sent_id: str, now: datetime) -> bytes:
    date = format_datetime(now)
    if answer.kind == "reply":
        head = f"From: {answer.name} <{answer.email}>\nSubject: Re: our chat\n"
        head += f"In-Reply-To: {sent_id}\n"
        body = (
            "Thanks, this looks relevant. Can we talk on Thursday?\n\nOn Monday you wrote:\n> Hi\n"
        )
    elif answer.kind == "out_of_office":
        back = (now + AWAY).strftime("%d %B %Y")
        head = (f"From: {answer.name} <{answer.email}>\nSubject: Automatic reply: our chat\n"
                f"Auto-Submitted: auto-replied\nIn-Reply-To: {sent_id}\n")  # fmt: skip
        body = f"I am out of the office until {back} with no access to email.\n"
    elif answer.kind == "bounce":
        return _dsn(answer.email, sent_id, date)
    else:
        return _arf(answer.email, sent_id, date)
    head += f"To: sales@acme.test\nDate: {date}\nMessage-ID: <{answer.kind}.{answer.email}>\n"
    return f"{head}MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{body}".encode()


def _dsn(email: str, sent_id: str, date: str) -> bytes:
    return f"""From: MAILER-DAEMON@mx.acme.test (Mail Delivery System)
To: sales@acme.test
Date: {date}
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn.{email}@mx.acme.test>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="DSN"

--DSN
Content-Type: text/plain

<{email}>: host mx.example.com said: 550 5.1.1 User unknown

--DSN
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.acme.test

Final-Recipient: rfc822; {email}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <{email}>: Recipient address rejected: User unknown

--DSN
Content-Type: text/rfc822-headers

To: {email}
Message-ID: {sent_id}

--DSN--
""".encode()


def _arf(email: str, sent_id: str, date: str) -> bytes:
    return f"""From: feedback-loop@isp.example
To: abuse@acme.test
Date: {date}
Subject: Email Feedback Report
Message-ID: <arf.{email}@isp.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="ARF"

--ARF
Content-Type: text/plain

This is an email abuse report.

--ARF
Content-Type: message/feedback-report

Feedback-Type: abuse
Version: 1
Original-Rcpt-To: <{email}>

--ARF
Content-Type: message/rfc822

To: {email}
Message-ID: {sent_id}

--ARF--
""".encode()
