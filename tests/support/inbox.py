"""Inbox test helpers: a harness whose leads were each sent one email with a known Message-ID."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from models.lead import Lead
from models.touch import Touch
from testkit.harness import Harness, template, write_files

LEAD = "ana@example.com"  # the lead that answers in the inbox tests
CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "inbox"
SEQUENCE = """
name: outreach
trigger: lead.mql
exit_on: [email.replied]
steps:
  - id: intro
    email: t/intro
  - id: bump
    email: t/bump
    wait: 2d
  - id: last
    email: t/last
    wait: 3d
"""
TEAM = """
owners:
  - email: ana.rep@acme.test
    name: Ana Rep
"""
TEMPLATES = {f"t/{name}.j2": template(name.title()) for name in ("intro", "bump", "last")}


def sent_id(email: str) -> str:
    """The Message-ID the corpus files answer for this lead: <m-LOCALPART@acme.test>."""
    return f"<m-{email.split('@')[0]}@acme.test>"


def inbox_harness(folder: Path, *, team: str = TEAM, **settings: Any) -> Harness:
    write_files(folder / "sequences", {"team.yaml": team})
    return Harness(
        folder,
        sequences={"outreach.yaml": SEQUENCE},
        templates=TEMPLATES,
        inbox_dir=folder / "inbox",
        **settings,
    )


def mail_leads(h: Harness, emails: list[str]) -> None:
    """Enroll each lead, send its first email, and give that email its corpus Message-ID."""
    for email in emails:
        h.event("lead.mql", email)
    h.tick()
    with Session(h.rt.engine) as session, session.begin():
        for email in emails:
            lead = session.exec(select(Lead).where(Lead.email == email)).one()
            session.execute(
                update(Touch)
                .where(col(Touch.lead_id) == lead.id, col(Touch.step) == "intro")
                .values(message_id=sent_id(email))
            )


def drop(h: Harness, name: str, data: bytes) -> Path:
    """Put a message file into the inbox Maildir's new/ folder, as a delivery agent would."""
    new = h.settings.inbox_dir / "new"
    new.mkdir(parents=True, exist_ok=True)
    for sub in ("cur", "tmp"):
        (h.settings.inbox_dir / sub).mkdir(exist_ok=True)
    path = new / name
    path.write_bytes(data)
    return path


def reply(
    *, message_id: str = "<r1@example.com>", body: str = "Yes, call me.", **headers: str
) -> bytes:
    lines = {
        "From": f"Ana <{LEAD}>",
        "To": "ana.rep@acme.test",
        "Subject": "Re: Intro",
        "Message-ID": message_id,
        "In-Reply-To": sent_id(LEAD),
        "Date": "Mon, 30 Nov 2026 15:00:00 +0000",
        **headers,
    }
    head = "".join(f"{name}: {value}\n" for name, value in lines.items() if value)
    return f"{head}MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{body}\n".encode()


def dsn(recipient: str, action: str, status: str, *, returned: str | None = None) -> bytes:
    """An RFC 3464 report as Postfix writes it, returning the headers of our message."""
    returned = returned or sent_id(recipient)
    return f"""From: MAILER-DAEMON@mx.acme.test (Mail Delivery System)
To: sales@acme.test
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-{recipient}-{status}@mx.acme.test>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

Your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.acme.test

Final-Recipient: rfc822; {recipient}
Action: {action}
Status: {status}

--B
Content-Type: text/rfc822-headers

From: Sales <sales@acme.test>
To: {recipient}
Message-ID: {returned}

--B--
""".encode()
