"""SMTP replies classified (transient, permanent, suppressing); SMTP URLs and the sender picked."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from worker.mail import (
    MaildirMailer,
    PermanentSendError,
    SendError,
    SmtpMailer,
    TransientSendError,
    classify_smtp_reply,
    make_mailer,
)


@pytest.mark.parametrize(
    "url", ["http://mail.example.com", "mail.example.com:25", "smtp://", "smtp://h?tls=1"]
)
def test_a_bad_smtp_url_raises_one_clear_line(url: str, tmp_path: Path) -> None:
    """make_mailer refuses URLs it cannot use, with a one-line ValueError."""
    with pytest.raises(ValueError, match="SMTP URL") as raised:
        make_mailer(url, tmp_path)
    assert "\n" not in str(raised.value)


def test_make_sender_picks_smtp_or_the_outbox(tmp_path: Path) -> None:
    """A URL gives an SmtpMailer; no URL gives the Maildir outbox."""
    assert isinstance(make_mailer("smtp://u:p@mail.example.com:587", tmp_path), SmtpMailer)
    assert isinstance(make_mailer(None, tmp_path), MaildirMailer)
    assert isinstance(make_mailer("", tmp_path), MaildirMailer)


@pytest.mark.parametrize(
    ("code", "message", "kind", "suppress"),
    [
        (421, "4.7.0 try again later", TransientSendError, None),
        (450, "4.2.0 mailbox busy", TransientSendError, None),
        (451, "4.3.0 try again", TransientSendError, None),
        (452, "4.2.2 mailbox full", TransientSendError, None),
        (550, "5.1.1 no such user", PermanentSendError, True),
        (550, "5.1.10 recipient has a null MX", PermanentSendError, True),
        (553, "5.1.3 bad recipient address syntax", PermanentSendError, True),
        (551, "User not local (5.1.6 mailbox moved)", PermanentSendError, True),
        (550, "Requested action not taken: mailbox unavailable", PermanentSendError, False),
        (550, "5.7.1 relaying denied", PermanentSendError, False),
        (553, "5.1.8 bad sender's system address", PermanentSendError, False),
        (554, "5.7.1 message refused", PermanentSendError, False),
        (552, "5.3.4 message too big", PermanentSendError, False),
        (554, "Transaction failed (5.1.1 mentioned, but 554)", PermanentSendError, False),
        (354, "unexpected", TransientSendError, None),
        (-1, "", TransientSendError, None),
    ],
)
def test_classify_smtp_reply(
    code: int, message: str, kind: type[SendError], suppress: bool | None
) -> None:
    """4xx and odd replies are transient, 5xx permanent, 5.1.x about the recipient suppresses."""
    error = classify_smtp_reply(code, message)
    assert type(error) is kind
    if suppress is not None:
        assert isinstance(error, PermanentSendError)
        assert error.suppress is suppress
    assert "\n" not in error.reason


def test_a_5_1_x_refusal_of_our_own_sender_does_not_suppress_the_recipient() -> None:
    """At MAIL FROM a 5.1.x code is about the sender address, so the lead stays mailable."""
    error = classify_smtp_reply(550, "5.1.0 sender address rejected", stage="MAIL")
    assert isinstance(error, PermanentSendError)
    assert error.suppress is False


def test_classify_accepts_bytes_and_multiline_replies() -> None:
    """smtplib hands over bytes, sometimes with several lines; the reason is one line."""
    error = classify_smtp_reply(550, b"5.1.1 The email account does not exist.\n5.1.1 Try again")
    assert isinstance(error, PermanentSendError)
    assert error.suppress is True
    assert error.reason == "550 5.1.1 The email account does not exist. 5.1.1 Try again"


def test_send_errors_survive_pickling() -> None:
    """Errors keep code and suppress across process boundaries."""
    error = pickle.loads(pickle.dumps(PermanentSendError("550 gone", 550, suppress=True)))
    assert (error.reason, error.code, error.suppress) == ("550 gone", 550, True)
