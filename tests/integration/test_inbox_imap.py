"""The watcher against a real Dovecot (imaps:// and imap:// + STARTTLS), messages put in by APPEND:
BODY.PEEK, nothing deleted, move_to and mark_seen, UIDVALIDITY changes, IDLE, a failing mailbox."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, func, select

from models.event import Event
from models.inbound import InboundMessage, MailboxCursor
from testkit.harness import Harness
from tests.support.dovecot import PASSWORD, Dovecot, dovecot_server
from tests.support.inbox import LEAD, dsn, inbox_harness, mail_leads, reply
from worker.inbox.imap_source import ImapSource
from worker.inbox.watcher import poll, watch
from worker.specs.mailboxes import MailboxSpec

pytestmark = pytest.mark.integration
BEN = "ben@example.com"


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    with dovecot_server() as server:
        yield server


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = inbox_harness(tmp_path)
    mail_leads(harness, [LEAD, BEN])
    try:
        yield harness
    finally:
        harness.close()


@pytest.fixture
def folder(dovecot: Dovecot, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh folder of the test's own, so tests never see each other's messages."""
    name = "t" + str(abs(hash(request.node.name)))[:10]
    client = dovecot.client()
    client.create_folder(name)
    client.logout()
    yield name
    client = dovecot.client()
    client.delete_folder(name)
    client.logout()


def source(
    dovecot: Dovecot,
    folder: str,
    *,
    tls: bool = True,
    password: str | None = PASSWORD,
    **options: Any,
) -> ImapSource:
    spec = MailboxSpec(url=dovecot.url(folder, tls=tls), password_env="IMAP_PASSWORD", **options)
    return ImapSource(spec, password, ssl_context=dovecot.ssl_context(), timeout=10)


def append(dovecot: Dovecot, folder: str, data: bytes) -> None:
    client = dovecot.client()
    client.append(folder, data.replace(b"\n", b"\r\n"))
    client.logout()


def flags(dovecot: Dovecot, folder: str) -> list[tuple[bytes, ...]]:
    """Each message's flags (without \\Recent), oldest first."""
    client = dovecot.client()
    client.select_folder(folder, readonly=True)
    found = client.fetch(client.search(["ALL"]), ["FLAGS"])
    client.logout()
    return [tuple(f for f in found[uid][b"FLAGS"] if f != b"\\Recent") for uid in sorted(found)]


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Wait for another process's work (Dovecot, the watcher thread), bounded."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def fetched(h: Harness, mailbox: str) -> bool:
    with Session(h.rt.engine) as session:
        cursor = session.get(MailboxCursor, mailbox)
        return cursor is not None and cursor.last_success_at is not None


def events(h: Harness, kind: str) -> int:
    with Session(h.rt.engine) as session:
        return int(
            session.exec(select(func.count()).select_from(Event).where(Event.type == kind)).one()
        )


def test_imaps_reads_with_peek_never_deletes_and_reads_each_message_once(
    h: Harness, dovecot: Dovecot, folder: str
) -> None:
    """Given a reply and a bounce appended, one poll classifies both, leaves them unseen in the
    folder, and the next poll reads nothing (the cursor)."""
    append(dovecot, folder, reply())
    append(dovecot, folder, dsn(BEN, "failed", "5.1.1"))
    mailbox = source(dovecot, folder)
    try:
        outcomes = sorted(str(s.decision.outcome) for s in poll(h.rt, mailbox))
        assert outcomes == ["bounce", "reply"]
        assert poll(h.rt, mailbox) == []
    finally:
        mailbox.close()
    assert flags(dovecot, folder) == [(), ()]  # still there, not \Seen
    assert events(h, "email.replied") == 1 and events(h, "email.bounced") == 1


def test_starttls_move_to_and_mark_seen(h: Harness, dovecot: Dovecot, folder: str) -> None:
    """imap:// upgrades with STARTTLS; recognised messages move to move_to, the rest stay, seen."""
    client = dovecot.client()
    client.create_folder(f"{folder}-done")
    client.logout()
    append(dovecot, folder, reply())
    append(
        dovecot,
        folder,
        b"From: news@vendor.example\nSubject: Offers\nMessage-ID: <n@v.example>\n\nBuy.\n",
    )
    mailbox = source(dovecot, folder, tls=False, move_to=f"{folder}-done", mark_seen=True)
    try:
        assert sorted(str(s.decision.outcome) for s in poll(h.rt, mailbox)) == [
            "reply",
            "unmatched",
        ]
    finally:
        mailbox.close()
    assert flags(dovecot, folder) == [(b"\\Seen",)]  # the newsletter stayed, marked seen
    assert flags(dovecot, f"{folder}-done") == [(b"\\Seen",)]  # the reply moved
    client = dovecot.client()
    client.delete_folder(f"{folder}-done")
    client.logout()


def test_a_uidvalidity_change_rescans_without_duplicating_events(
    h: Harness, dovecot: Dovecot, folder: str
) -> None:
    """Given a processed reply, the folder recreated (new UIDVALIDITY) with the same message:
    the rescan reads it again, recognises it, and records no second event."""
    append(dovecot, folder, reply())
    mailbox = source(dovecot, folder)
    try:
        [first] = poll(h.rt, mailbox)
        mailbox.close()
        client = dovecot.client()
        client.delete_folder(folder)
        client.create_folder(folder)
        client.logout()
        append(dovecot, folder, reply())
        [again] = poll(h.rt, mailbox)
    finally:
        mailbox.close()
    assert first.decision.outcome == "reply"
    assert again.decision.outcome == "ignored" and "read before" in again.decision.rule
    assert events(h, "email.replied") == 1
    with Session(h.rt.engine) as session:
        validities = session.exec(select(InboundMessage.uidvalidity)).all()
    assert len(set(validities)) == 2


def test_idle_wakes_the_watcher_and_a_failing_mailbox_does_not_stop_the_other(
    h: Harness, dovecot: Dovecot, folder: str
) -> None:
    """Two watched mailboxes, one with a wrong password: the good one sees a message appended
    while it IDLEs (its poll interval is 60 s), the bad one records its error for `status`."""
    good, bad = source(dovecot, folder), source(dovecot, folder, tls=False, password="wrong")
    stop = threading.Event()
    threads = [
        threading.Thread(target=watch, args=(h.rt, s, stop), daemon=True) for s in (good, bad)
    ]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: fetched(h, good.name))  # its first fetch is done: it IDLEs now
        append(dovecot, folder, reply())
        wait_for(lambda: events(h, "email.replied") == 1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
    with Session(h.rt.engine) as session:
        cursors = {c.mailbox: c for c in session.exec(select(MailboxCursor)).all()}
    assert cursors[good.name].last_error is None and cursors[good.name].last_uid == 1
    assert (
        cursors[bad.name].errors >= 1
        and "AUTHENTICATIONFAILED" in (cursors[bad.name].last_error or "").upper()
    )
