"""MaildirMailer: the embedded outbox writes one readable file per message."""

from __future__ import annotations

import email
import email.policy
import mailbox
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from worker.engine.clock import VirtualClock
from worker.mail import MaildirMailer, OutgoingEmail, PermanentSendError, make_message_id


def outgoing(to: str = "lead@example.org") -> OutgoingEmail:
    return OutgoingEmail(
        sender="Ana <ana@example.com>",
        to=to,
        subject="Grüße",
        text="Hello\n",
        html=None,
        message_id=make_message_id("example.com"),
    )


def send_many(mailer: MaildirMailer, count: int) -> None:
    for _ in range(count):
        mailer.send(outgoing())


def test_each_message_becomes_one_file_in_new(tmp_path: Path) -> None:
    """A send adds one message to the Maildir, with headers readable by mail tools."""
    outbox = tmp_path / "deep" / "outbox"
    sent = outgoing()
    MaildirMailer(outbox).send(sent)
    [key] = mailbox.Maildir(outbox).keys()
    data = mailbox.Maildir(outbox).get_bytes(key)
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert message["Message-ID"] == sent.message_id
    assert message["Subject"] == "Grüße"
    assert len(list((outbox / "new").iterdir())) == 1


def test_an_existing_empty_folder_becomes_a_maildir(tmp_path: Path) -> None:
    """A pre-created ./outbox without tmp/new/cur still works."""
    (tmp_path / "outbox").mkdir()
    MaildirMailer(tmp_path / "outbox").send(outgoing())
    assert len(mailbox.Maildir(tmp_path / "outbox")) == 1


def test_concurrent_sends_all_land(tmp_path: Path) -> None:
    """Many threads sending at once lose nothing."""
    mailer = MaildirMailer(tmp_path / "outbox")
    threads = [threading.Thread(target=send_many, args=(mailer, 25)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(mailbox.Maildir(tmp_path / "outbox")) == 200


def test_date_comes_from_the_injected_clock(tmp_path: Path) -> None:
    """The Date header follows the virtual clock of a demo."""
    start = datetime(2030, 1, 2, 3, 4, tzinfo=UTC)
    MaildirMailer(tmp_path / "outbox", clock=VirtualClock(start)).send(outgoing())
    [data] = [m.as_bytes() for m in mailbox.Maildir(tmp_path / "outbox")]
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["Date"].datetime == start


def test_a_message_that_cannot_be_built_is_permanent(tmp_path: Path) -> None:
    """Header injection fails the message and writes nothing."""
    with pytest.raises(PermanentSendError):
        MaildirMailer(tmp_path / "outbox").send(outgoing(to="a@example.org\nBcc: b@example.org"))
    assert not (tmp_path / "outbox").exists()


def test_check_accepts_a_creatable_or_writable_directory(tmp_path: Path) -> None:
    """A missing folder under a writable parent, or a writable folder, is fine."""
    assert MaildirMailer(tmp_path / "not" / "yet").check() is None
    mailer = MaildirMailer(tmp_path / "outbox")
    mailer.send(outgoing())
    assert mailer.check() is None


def test_check_reports_a_file_in_the_way(tmp_path: Path) -> None:
    """A file where the outbox should be is reported in one line."""
    (tmp_path / "outbox").write_text("x")
    reason = MaildirMailer(tmp_path / "outbox").check()
    assert reason is not None
    assert "not a directory" in reason


def test_check_reports_a_read_only_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only outbox is reported before the first send (access faked: root writes anyway)."""
    outbox = tmp_path / "outbox"
    outbox.mkdir(mode=0o500)
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if Path(p) == outbox else real_access(p, mode)
    )
    assert MaildirMailer(outbox).check() == f"outbox {outbox} is not writable"
