"""The hand-built MIME message: headers, parts, encodings, and refusal to be injected."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta, timezone
from email.header import decode_header, make_header
from email.message import EmailMessage, MIMEPart
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.mail.message import (
    OutgoingEmail,
    format_sender,
    make_message_id,
    split_sender,
    to_bytes,
)

DATE = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)


def outgoing(**changes: object) -> OutgoingEmail:
    fields: dict[str, Any] = {
        "sender": "Ana Owner <ana@example.com>",
        "to": "lead@example.org",
        "subject": "Quick follow-up",
        "text": "Hello there,\njust checking in.\n",
        "html": None,
        "message_id": "<abc.123@example.com>",
        "headers": (
            ("List-Unsubscribe", "<https://example.com/u/tok>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ),
    }
    fields.update(changes)
    return OutgoingEmail(**fields)


def parse(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)


def body(part: MIMEPart) -> str:
    return str(part.get_content()).replace("\r\n", "\n")


def test_plain_message_has_the_required_headers() -> None:
    """From, To, Subject, Date, Message-ID, MIME-Version and the extra headers are present."""
    message = parse(to_bytes(outgoing(), date=DATE))
    assert message["From"] == "Ana Owner <ana@example.com>"
    assert message["To"] == "lead@example.org"
    assert message["Subject"] == "Quick follow-up"
    assert message["Date"].datetime == DATE
    assert message["Message-ID"] == "<abc.123@example.com>"
    assert message["MIME-Version"] == "1.0"
    assert message["List-Unsubscribe"] == "<https://example.com/u/tok>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_text_only_message_is_a_single_utf8_text_part() -> None:
    """Without html the message is text/plain itself, not a multipart."""
    message = parse(to_bytes(outgoing(), date=DATE))
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert body(message) == "Hello there,\njust checking in.\n"


def test_html_makes_a_multipart_alternative_with_text_first() -> None:
    """With html the message is multipart/alternative: text/plain, then text/html."""
    message = parse(to_bytes(outgoing(html="<p>Hello <b>there</b></p>"), date=DATE))
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert body(parts[1]) == "<p>Hello <b>there</b></p>"


def test_every_line_ends_with_crlf() -> None:
    """The bytes use CRLF only, as SMTP and RFC 5322 require."""
    data = to_bytes(outgoing(html="<p>x</p>\n", text="a\nb\r\nc\rd"), date=DATE)
    assert data.endswith(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")


def test_non_ascii_subject_and_display_name_round_trip() -> None:
    """Non-ASCII header text is RFC 2047 encoded and decodes back unchanged."""
    data = to_bytes(outgoing(sender="Jörg Müller <j@example.de>", subject="Grüße 👋"), date=DATE)
    head = data.split(b"\r\n\r\n")[0]
    assert head.isascii()
    message = parse(data)
    assert message["Subject"] == "Grüße 👋"
    assert message["From"].addresses[0].display_name == "Jörg Müller"
    assert message["From"].addresses[0].addr_spec == "j@example.de"


def test_long_non_ascii_subject_is_folded_into_short_encoded_words() -> None:
    """A long subject becomes several encoded words on lines of at most 76 characters."""
    subject = "Ölpreise steigen — " * 12
    data = to_bytes(outgoing(subject=subject), date=DATE)
    head = data.split(b"\r\n\r\n")[0].decode("ascii")
    assert all(len(line) <= 78 for line in head.split("\r\n") if "=?utf-8?" in line)
    assert parse(data)["Subject"] == subject


def test_long_display_name_decodes_with_rfc2047_rules() -> None:
    """A display name split over several encoded words decodes to the original name."""
    name = "Zoë Ängström-Øresund van der Großherzogtum Ärgerlichkeit"
    data = to_bytes(outgoing(sender=f"{name} <z@example.com>"), date=DATE)
    raw_from = email.message_from_bytes(data)["From"]
    assert str(make_header(decode_header(raw_from))) == f"{name} <z@example.com>"


def test_display_name_with_specials_is_quoted() -> None:
    """A name with a comma is quoted so it is not read as two addresses."""
    message = parse(to_bytes(outgoing(sender="Doe, Jane <jane@example.com>"), date=DATE))
    assert message["From"].addresses[0].display_name == "Doe, Jane"
    assert len(message["From"].addresses) == 1


@pytest.mark.parametrize(
    "name",
    ["José Rep", 'Ana "the closer" Rep', "Back\\slash", "=?utf-8?b?QQ==?=", "Doe, Jane"],
)
def test_an_owner_name_is_encoded_exactly_once(name: str) -> None:
    """Finding 13: format_sender leaves encoding to the builder, so the name decodes as given."""
    sender = format_sender(name, "rep@acme.test")
    assert split_sender(sender) == (name, "rep@acme.test")
    [address] = parse(to_bytes(outgoing(sender=sender), date=DATE))["From"].addresses
    assert address.display_name == name
    assert address.addr_spec == "rep@acme.test"


@pytest.mark.parametrize("name", ["Ana\r\nBcc: x@example.org", "Ana\nRep", "Ana\x1b[2J"])
def test_an_owner_name_with_a_line_break_is_refused_by_the_builder(name: str) -> None:
    """Finding 13: a control character in the name can never reach the header block."""
    with pytest.raises(ValueError, match="control character"):
        to_bytes(outgoing(sender=format_sender(name, "rep@acme.test")), date=DATE)


def test_non_ascii_body_is_encoded_and_decodes_back() -> None:
    """UTF-8 bodies travel as quoted-printable or base64 and decode to the same text."""
    for text in ("Grüße, Jörg\n", "こんにちは、お元気ですか\n", "x" * 2000 + "\n"):
        message = parse(to_bytes(outgoing(text=text), date=DATE))
        assert message["Content-Transfer-Encoding"] in ("quoted-printable", "base64")
        assert body(message) == text


def test_date_header_keeps_the_given_offset() -> None:
    """The Date header is written from the aware datetime passed in."""
    local = datetime(2025, 3, 4, 10, 30, tzinfo=timezone(timedelta(hours=1)))
    message = parse(to_bytes(outgoing(), date=local))
    assert message["Date"].datetime == local
    assert "+0100" in str(message["Date"])


def test_naive_date_is_refused() -> None:
    """A naive datetime would write a wrong Date; it is refused."""
    with pytest.raises(ValueError, match="aware"):
        to_bytes(outgoing(), date=datetime(2025, 3, 4, 9, 30))


@pytest.mark.parametrize(
    "changes",
    [
        {"subject": "Hi\r\nBcc: victim@example.com"},
        {"subject": "Hi\nBcc: victim@example.com"},
        {"subject": "Hi\rX: y"},
        {"sender": "Ana <ana@example.com>\r\nBcc: victim@example.com"},
        {"to": "lead@example.org\r\nBcc: victim@example.com"},
        {"message_id": "<a@b>\r\nBcc: victim@example.com"},
        {"message_id": "<a\x00b@example.com>"},
        {"headers": (("List-Unsubscribe", "<https://x>\r\nBcc: victim@example.com"),)},
        {"headers": (("X-Bad\r\nBcc", "v"),)},
    ],
)
def test_header_injection_is_refused(changes: dict[str, object]) -> None:
    """CR or LF in any header value raises ValueError instead of adding a header."""
    with pytest.raises(ValueError):
        to_bytes(outgoing(**changes), date=DATE)


@given(st.text(max_size=200))
def test_any_subject_either_round_trips_or_is_refused(subject: str) -> None:
    """Whatever a template renders, the subject comes back intact or raises ValueError."""
    try:
        data = to_bytes(outgoing(subject=subject), date=DATE)
    except ValueError:
        assert any((ord(char) < 32 and char != "\t") or char == "\x7f" for char in subject)
        return
    message = parse(data)
    assert "Bcc" not in message
    assert (
        str(make_header(decode_header(email.message_from_bytes(data)["Subject"]))).replace(
            "\r\n", ""
        )
        == subject
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"to": "Lead <lead@example.org>"},
        {"to": "a@example.org, b@example.org"},
        {"sender": "ana@example.com, eve@example.com"},
        {"sender": "not an address"},
        {"message_id": "no-brackets@example.com"},
        {"headers": (("Subject", "again"),)},
        {"headers": (("X-A", "1"), ("x-a", "2"))},
    ],
)
def test_malformed_addresses_ids_and_duplicate_headers_are_refused(
    changes: dict[str, object],
) -> None:
    """Anything that is not exactly one plain address, id or header raises ValueError."""
    with pytest.raises(ValueError):
        to_bytes(outgoing(**changes), date=DATE)


def test_message_ids_are_unique_and_well_formed() -> None:
    """Ten thousand ids are all different and look like <local@domain>."""
    ids = {make_message_id("example.com") for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(i.startswith("<") and i.endswith("@example.com>") for i in ids)


def test_message_id_domain_must_be_a_host_name() -> None:
    """A domain with spaces or brackets would break the header; it is refused."""
    with pytest.raises(ValueError):
        make_message_id("bad domain>")
