"""SmtpMailer against a real SMTP sink on 127.0.0.1: sessions, refusals, TLS and login."""

from __future__ import annotations

import shutil
import ssl
import threading
from collections.abc import Iterator

import pytest

from testkit.ports import free_port
from testkit.smtp_sink import SmtpSink, self_signed_tls
from worker.mail import (
    OutgoingEmail,
    PermanentSendError,
    SmtpMailer,
    TransientSendError,
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


def test_sender_refused_at_mail_from_is_permanent_without_suppression(
    sink: SmtpSink, sender: SmtpMailer
) -> None:
    """The server refusing our envelope sender fails the message but blames no lead."""
    sink.fail("ana@example.com", "550 5.1.0 sender address rejected", times=1, stage="mail")
    with pytest.raises(PermanentSendError) as raised:
        sender.send(outgoing())
    assert raised.value.suppress is False
