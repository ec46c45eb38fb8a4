"""Finding 2: the SMTP password never crosses a network in clear. STARTTLS is used whenever the
server offers it; without TLS, credentials go only to a loopback relay. Real aiosmtpd on
127.0.0.1, with a self-signed certificate made here."""

from __future__ import annotations

import shutil
import ssl
from collections.abc import Iterator

import pytest

from testkit.smtp_sink import SmtpSink, self_signed_tls
from worker.mail import OutgoingEmail, SmtpMailer, TransientSendError, make_message_id
from worker.mail.smtp_url import parse_smtp_url

LOGIN = ("rep@acme.test", "s3cret-pass")


def email() -> OutgoingEmail:
    return OutgoingEmail(
        sender="Ana Rep <ana.rep@acme.test>",
        to="lead@example.org",
        subject="Hello",
        text="Hi\n",
        html=None,
        message_id=make_message_id("acme.test"),
    )


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make the test certificate (.ci/run installs it)")
    return self_signed_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def offers_starttls(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> Iterator[SmtpSink]:
    with SmtpSink(starttls=tls[0], auth=LOGIN) as sink:
        yield sink


@pytest.fixture
def plain_only() -> Iterator[SmtpSink]:
    with SmtpSink(auth=LOGIN) as sink:
        yield sink


def plain_url(sink: SmtpSink) -> str:
    """smtp://user:pass@127.0.0.1:port with no ?starttls= option: what most people write."""
    return sink.url.partition("?")[0]


def test_starttls_is_used_whenever_offered_without_being_asked(
    offers_starttls: SmtpSink, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    """Finding 2: smtp://user:pass@host without ?starttls=true upgrades before AUTH."""
    mailer = SmtpMailer(plain_url(offers_starttls), timeout=5.0, ssl_context=tls[1])
    try:
        mailer.send(email())
    finally:
        mailer.close()
    assert offers_starttls.commands["STARTTLS"] == 1
    assert offers_starttls.commands["AUTH"] == 1
    assert len(offers_starttls.messages) == 1


def test_a_loopback_relay_with_a_self_signed_certificate_still_gets_tls(
    offers_starttls: SmtpSink,
) -> None:
    """Finding 2: opportunistic STARTTLS to 127.0.0.1 encrypts even with an unverifiable cert."""
    mailer = SmtpMailer(plain_url(offers_starttls), timeout=5.0)
    try:
        mailer.send(email())
    finally:
        mailer.close()
    assert offers_starttls.commands["STARTTLS"] == 1
    assert len(offers_starttls.messages) == 1


def test_credentials_are_never_sent_in_clear_to_a_server_off_this_machine(
    plain_only: SmtpSink,
) -> None:
    """Finding 2: no STARTTLS on offer and not a loopback relay: one clear error, no AUTH."""
    mailer = SmtpMailer(plain_url(plain_only), timeout=5.0, plain_login_on_loopback=False)
    with pytest.raises(TransientSendError) as raised:
        mailer.send(email())
    assert "refusing to send the SMTP password in clear text" in raised.value.reason
    assert LOGIN[1] not in raised.value.reason
    assert plain_only.commands["AUTH"] == 0
    assert plain_only.messages == []
    assert mailer.check() == raised.value.reason


def test_a_loopback_relay_without_tls_may_take_the_login(plain_only: SmtpSink) -> None:
    """Finding 2: the one exception: a relay on this machine (127.0.0.0/8, ::1, localhost)."""
    mailer = SmtpMailer(plain_url(plain_only), timeout=5.0)
    try:
        mailer.send(email())
    finally:
        mailer.close()
    assert plain_only.commands["AUTH"] == 1
    assert len(plain_only.messages) == 1


def test_starttls_false_with_a_password_for_a_remote_host_is_refused_at_start_up() -> None:
    """Finding 2: a URL that could only log in over plain text is a one-line config error."""
    with pytest.raises(ValueError, match=r"^SMTP URL: starttls=false would send the password"):
        parse_smtp_url("smtp://rep:pw@mail.example.com:587?starttls=false")
    assert parse_smtp_url("smtp://rep:pw@127.0.0.1:25?starttls=false").tls == "none"
    assert parse_smtp_url("smtp://mail.example.com:25?starttls=false").tls == "none"
    assert parse_smtp_url("smtp://rep:pw@mail.example.com:587").tls == "auto"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST.", True),
        ("mail.example.com", False),
        ("10.0.0.5", False),
        ("localhost.example.com", False),
        ("0.0.0.0", False),
    ],
)
def test_only_this_machine_counts_as_loopback(host: str, loopback: bool) -> None:
    """Finding 2: the exception is by address, never by a name that merely looks local."""
    from worker.mail.smtp_url import is_loopback

    assert is_loopback(host) is loopback
