"""SmtpMailer against a real SMTP sink on 127.0.0.1, and the SMTP reply classification."""

from __future__ import annotations

import pickle
import shutil
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.smtp_sink import SmtpSink, free_port, self_signed_tls
from worker.mail import (
    MaildirMailer,
    OutgoingEmail,
    PermanentSendError,
    SendError,
    SmtpMailer,
    TransientSendError,
    classify_smtp_reply,
    make_mailer,
    make_message_id,
)


def outgoing(to: str = "lead@example.org", subject: str = "Following up") -> OutgoingEmail:
    return OutgoingEmail(
        sender="Ana Owner <ana@example.com>",
        to=to,
        subject=subject,
        text="Hello,\njust checking in.\n",
        html="<p>Hello, just checking in.</p>",
        message_id=make_message_id("example.com"),
        headers=(("List-Unsubscribe", "<https://example.com/u/t>"),),
    )


def send_many(sender: SmtpMailer, count: int) -> None:
    for _ in range(count):
        sender.send(outgoing())


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as running:
        yield running


@pytest.fixture
def sender(sink: SmtpSink) -> Iterator[SmtpMailer]:
    smtp = SmtpMailer(sink.url, timeout=5.0, local_hostname="client.test")
    yield smtp
    smtp.close()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    return self_signed_tls(tmp_path_factory.mktemp("tls"))


def test_a_sent_message_arrives_with_its_envelope_and_headers(
    sink: SmtpSink, sender: SmtpMailer
) -> None:
    """The envelope uses the bare sender address; the headers arrive as built."""
    email = outgoing()
    sender.send(email)
    [received] = sink.messages
    assert received.mail_from == "ana@example.com"
    assert received.rcpt_tos == ("lead@example.org",)
    assert received.message["Subject"] == "Following up"
    assert sink.message_ids() == [email.message_id]


def test_ten_sends_on_one_thread_use_one_connection(sink: SmtpSink, sender: SmtpMailer) -> None:
    """The connection is opened lazily once and reused; no NOOP while it is not idle."""
    for index in range(10):
        sender.send(outgoing(to=f"lead{index}@example.org"))
    assert len(sink.messages) == 10
    assert sink.connections == 1
    assert sink.commands["NOOP"] == 0


def test_each_thread_has_its_own_connection_and_close_quits_them_all(
    sink: SmtpSink, sender: SmtpMailer
) -> None:
    """Three threads open three connections; close() sends QUIT on each of them."""
    threads = [threading.Thread(target=send_many, args=(sender, 3)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sink.messages) == 9
    assert sink.connections == 3
    sender.close()
    assert sink.commands["QUIT"] == 3


def test_451_is_transient_and_the_connection_stays_usable(
    sink: SmtpSink, sender: SmtpMailer
) -> None:
    """A 4xx refusal raises TransientSendError, RSETs, and the next send reuses the session."""
    sink.fail(lambda rcpt: rcpt.startswith("slow"), "451 4.3.0 try again")
    with pytest.raises(TransientSendError) as raised:
        sender.send(outgoing(to="slow@example.org"))
    sender.send(outgoing(to="fast@example.org"))
    assert raised.value.code == 451
    assert "try again" in raised.value.reason
    assert sink.recipients() == ["fast@example.org"]
    assert sink.commands["RSET"] == 1
    assert sink.connections == 1


def test_550_511_is_permanent_and_suppresses_the_address(
    sink: SmtpSink, sender: SmtpMailer
) -> None:
    """'550 5.1.1 no such user' raises PermanentSendError with suppress=True."""
    sink.fail("gone@example.org", "550 5.1.1 no such user")
    with pytest.raises(PermanentSendError) as raised:
        sender.send(outgoing(to="gone@example.org"))
    assert (raised.value.code, raised.value.suppress) == (550, True)
    assert sink.messages == []


def test_554_571_is_permanent_but_does_not_suppress(sink: SmtpSink, sender: SmtpMailer) -> None:
    """A policy refusal after DATA is permanent for this message, not a bad address."""
    sink.fail(None, "554 5.7.1 message refused as spam", times=1, stage="data")
    with pytest.raises(PermanentSendError) as raised:
        sender.send(outgoing())
    assert (raised.value.code, raised.value.suppress) == (554, False)
    sender.send(outgoing())
    assert len(sink.messages) == 1
    assert sink.connections == 1


def test_a_server_that_is_down_gives_a_transient_error() -> None:
    """Connection refused is worth retrying later."""
    down = SmtpMailer(f"smtp://127.0.0.1:{free_port()}", timeout=2.0)
    with pytest.raises(TransientSendError, match="cannot connect"):
        down.send(outgoing())
    assert down.check() is not None


def test_a_connection_dropped_by_the_server_is_reopened_once(
    sink: SmtpSink, sender: SmtpMailer
) -> None:
    """When the reused session turns out dead, one fresh connection delivers the message."""
    sender.send(outgoing())
    sink.drop_connections()
    sender.send(outgoing())
    assert len(sink.messages) == 2
    assert sink.connections == 2


def test_421_on_a_reused_connection_reconnects_at_once(sink: SmtpSink, sender: SmtpMailer) -> None:
    """A server that times out an idle session answers 421; the sender reconnects."""
    sender.send(outgoing())
    sink.fail(None, "421 4.4.2 idle too long, closing", times=1, stage="mail")
    sender.send(outgoing())
    assert len(sink.messages) == 2
    assert sink.connections == 2


def test_an_idle_connection_is_checked_with_noop(sink: SmtpSink, sender: SmtpMailer) -> None:
    """After the idle limit a NOOP proves the session is alive before it is reused."""
    sender.idle_noop_seconds = 0.0
    sender.send(outgoing())
    sender.send(outgoing())
    assert sink.commands["NOOP"] == 1
    assert sink.connections == 1


def test_an_idle_dead_connection_is_replaced_without_error(
    sink: SmtpSink, sender: SmtpMailer
) -> None:
    """A failed NOOP leads to a new connection, not a failed send."""
    sender.idle_noop_seconds = 0.0
    sender.send(outgoing())
    sink.drop_connections()
    sender.send(outgoing())
    assert len(sink.messages) == 2
    assert sink.connections == 2


def test_login_with_percent_encoded_credentials_works() -> None:
    """User and password come percent-decoded from the URL and AUTH succeeds."""
    with SmtpSink(auth=("ana@example.com", "p@ss:w/rd%")) as sink:
        sender = SmtpMailer(sink.url, timeout=5.0)
        sender.send(outgoing())
        sender.close()
        assert len(sink.messages) == 1
        assert sink.commands["AUTH"] == 1


def test_a_wrong_password_is_permanent_and_does_not_suppress() -> None:
    """Bad credentials fail every message alike: permanent, never a suppression."""
    with SmtpSink(auth=("ana@example.com", "right")) as sink:
        sender = SmtpMailer(sink.url_for("ana@example.com", "wrong"), timeout=5.0)
        with pytest.raises(PermanentSendError, match="login") as raised:
            sender.send(outgoing())
        assert raised.value.suppress is False
        assert "wrong" not in raised.value.reason
        assert sender.check() is not None


def test_starttls_requested_but_not_offered_is_refused(sink: SmtpSink) -> None:
    """Without STARTTLS on offer nothing is sent in clear text."""
    sender = SmtpMailer(sink.url + "?starttls=true", timeout=5.0)
    with pytest.raises(TransientSendError, match="STARTTLS"):
        sender.send(outgoing())
    assert sink.messages == []


def test_starttls_with_a_verified_certificate_delivers(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    """STARTTLS upgrades the session and the certificate is verified against its name."""
    server, client = tls
    with SmtpSink(starttls=server, auth=("ana", "secret")) as sink:
        sender = SmtpMailer(sink.url, timeout=5.0, ssl_context=client)
        sender.send(outgoing())
        sender.close()
        assert len(sink.messages) == 1
        assert sink.commands["STARTTLS"] == 1


def test_implicit_tls_delivers(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    """smtps:// wraps the connection in TLS from the first byte."""
    server, client = tls
    with SmtpSink(implicit_tls=server) as sink:
        assert sink.url.startswith("smtps://")
        sender = SmtpMailer(sink.url, timeout=5.0, ssl_context=client)
        sender.send(outgoing())
        sender.close()
        assert len(sink.messages) == 1


def test_an_untrusted_certificate_is_a_transient_error(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    """The default context verifies certificates, so a self-signed one is refused."""
    server, _client = tls
    with SmtpSink(implicit_tls=server) as sink:
        sender = SmtpMailer(sink.url, timeout=5.0)
        with pytest.raises(TransientSendError, match=r"TLS|certificate"):
            sender.send(outgoing())
        assert sink.messages == []


def test_check_is_none_when_the_server_answers(sink: SmtpSink, sender: SmtpMailer) -> None:
    """check() opens a fresh session, sends NOOP and quits."""
    assert sender.check() is None
    assert (sink.connections, sink.commands["NOOP"], sink.commands["QUIT"]) == (1, 1, 1)


def test_a_message_that_cannot_be_built_is_permanent(sink: SmtpSink, sender: SmtpMailer) -> None:
    """A header injection attempt fails the message before any connection is made."""
    with pytest.raises(PermanentSendError, match="invalid message"):
        sender.send(outgoing(subject="Hi\r\nBcc: everyone@example.org"))
    assert sink.connections == 0


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


def test_sender_refused_at_mail_from_is_permanent_without_suppression(
    sink: SmtpSink, sender: SmtpMailer
) -> None:
    """The server refusing our envelope sender fails the message but blames no lead."""
    sink.fail("ana@example.com", "550 5.1.0 sender address rejected", times=1, stage="mail")
    with pytest.raises(PermanentSendError) as raised:
        sender.send(outgoing())
    assert raised.value.suppress is False


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
