"""An outgoing email and its RFC 5322 bytes, built by hand because EmailMessage is too slow."""

from __future__ import annotations

import base64
import binascii
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime, quote
from functools import lru_cache

CRLF = "\r\n"
_ENCODED_WORD_OVERHEAD = len("=?utf-8?b??=")
_MAX_ENCODED_WORD = 75  # RFC 2047 section 2
_FOLD_AT = 78  # RFC 5322 section 2.1.1 "SHOULD"
_MAX_LINE = 998  # RFC 5322 section 2.1.1 "MUST"
_ASCII = bytes(range(128))
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_FIELD_NAME = re.compile(r"[!-9;-~]+")  # printable ASCII except ':'
_ADDRESS = re.compile(r"[^\s<>()\[\],;:\"@\\]+@[A-Za-z0-9.\-\[\]:]+")
_MESSAGE_ID = re.compile(r"<[^\s<>@]+@[^\s<>@]+>")
_OWN_HEADERS = frozenset(
    {"from", "to", "subject", "date", "message-id", "mime-version"}
    | {"content-type", "content-transfer-encoding"}
)


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    """One rendered email ready for a mailer; the message id stays the same across retries."""

    sender: str  # "Name <addr>" or "addr"
    to: str  # bare address
    subject: str
    text: str
    html: str | None
    message_id: str  # "<...@domain>" including angle brackets
    headers: tuple[tuple[str, str], ...] = ()  # extra headers, e.g. List-Unsubscribe


def make_message_id(domain: str) -> str:
    """A globally unique Message-ID: random uuid plus a millisecond timestamp."""
    domain = domain.strip().lower()
    if not domain or not re.fullmatch(r"[a-z0-9.\-\[\]:]+", domain):
        raise ValueError(f"message id domain {domain!r} is not a plain host name")
    return f"<{uuid.uuid4().hex}.{time.time_ns() // 1_000_000}@{domain}>"


def envelope_address(sender: str) -> str:
    """The bare address in 'Name <addr>' or 'addr', validated for use in MAIL FROM."""
    return split_sender(sender)[1]


@lru_cache(maxsize=1024)  # a handful of senders, each split three times an email
def split_sender(sender: str) -> tuple[str, str]:
    """(display name, address) from 'Name <addr>' or 'addr'; strict, unlike parseaddr.

    String operations only: one pass over the text, however long (a regex was polynomial).
    """
    _check_header_value("From", sender)
    text = sender.strip()
    name, bracket, addr = text[:-1].rpartition("<") if text.endswith(">") else ("", "", "")
    if not bracket or ">" in addr:
        return "", _check_address("From", text)
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = re.sub(r"\\(.)", r"\1", name[1:-1])
    return name, _check_address("From", addr)


def format_sender(name: str | None, address: str) -> str:
    """'Name <addr>' that split_sender reads back as it was; the builder encodes it, once."""
    if not name:
        return address
    if '"' in name or "\\" in name or name != name.strip():
        return f'"{quote(name)}" <{address}>'
    return f"{name} <{address}>"


def to_bytes(email: OutgoingEmail, *, date: datetime) -> bytes:
    """The complete message with CRLF line endings; ValueError on anything that could inject."""
    if date.tzinfo is None or date.utcoffset() is None:
        raise ValueError("the Date header needs an aware datetime")
    _check_header_value("Message-ID", email.message_id)
    if not _MESSAGE_ID.fullmatch(email.message_id):
        raise ValueError(f"message id {email.message_id!r} is not of the form <local@domain>")
    lines = [
        _header("From", _format_from(email.sender)),
        _header("To", _check_address("To", email.to), fold=False),
        _header("Subject", _unstructured("Subject", email.subject)),
        _header("Date", format_datetime(date), fold=False),
        _header("Message-ID", email.message_id, fold=False),
        "MIME-Version: 1.0",
    ]
    seen: set[str] = set()
    for name, value in email.headers:
        if not _FIELD_NAME.fullmatch(name):
            raise ValueError(f"header name {name!r} is not a valid field name")
        if name.lower() in _OWN_HEADERS or name.lower() in seen:
            raise ValueError(f"header {name} is set twice")
        seen.add(name.lower())
        lines.append(_header(name, _unstructured(name, value)))
    if email.html is None:
        lines.extend(_part("plain", email.text))
        if lines[-1] == "":  # the final CRLF already ends the last line of the body
            lines.pop()
    else:
        lines.extend(_alternative(email.text, email.html))
    return (CRLF.join(lines) + CRLF).encode("ascii")


def _alternative(text: str, html: str) -> list[str]:
    """A multipart/alternative body: text first, html last (the preferred one)."""
    plain, rich = _part("plain", text), _part("html", html)
    boundary = f"=_{uuid.uuid4().hex}"  # '=_' never occurs in quoted-printable or base64
    while boundary in text or boundary in html:  # so only a 7bit part could contain it
        boundary = f"=_{uuid.uuid4().hex}"
    return [
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
        "",
        f"--{boundary}",
        *plain,
        f"--{boundary}",
        *rich,
        f"--{boundary}--",
    ]


def _part(subtype: str, body: str) -> list[str]:
    """Headers, a blank line and the encoded body of one text part."""
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    raw = body.encode("utf-8")
    if raw.isascii() and max(map(len, raw.split(b"\n"))) <= _MAX_LINE:
        cte, encoded = "7bit", body
    elif len(raw.translate(None, _ASCII)) * 3 > len(raw):  # mostly non-Latin: base64 is shorter
        cte, encoded = "base64", base64.encodebytes(raw).decode("ascii").rstrip("\n")
    else:
        cte = "quoted-printable"
        encoded = binascii.b2a_qp(raw, istext=True).decode("ascii")
    return [
        f'Content-Type: text/{subtype}; charset="utf-8"',
        f"Content-Transfer-Encoding: {cte}",
        "",
        *encoded.split("\n"),
    ]


def _format_from(sender: str) -> str:
    """'Name <addr>' with the name quoted or RFC 2047 encoded as needed."""
    name, addr = split_sender(sender)
    if not name:
        return addr
    if not name.isascii() or "=?" in name:
        return f"{_encoded_words(name, first_budget=_MAX_ENCODED_WORD - 6)} <{addr}>"
    if re.fullmatch(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+", name):
        return f"{name} <{addr}>"
    return f'"{quote(name)}" <{addr}>'


def _unstructured(name: str, value: str) -> str:
    """An unstructured header value: ASCII as is, anything else as encoded words."""
    _check_header_value(name, value)
    if value.isascii() and "=?" not in value and value.strip(" \t") == value:
        return value  # (parsers drop leading blanks, so those values go encoded)
    return _encoded_words(value, first_budget=_MAX_ENCODED_WORD - len(name) - 2)


def _encoded_words(value: str, *, first_budget: int) -> str:
    """RFC 2047 'B' encoded words of at most 75 characters, split on character boundaries."""
    raw = value.encode("utf-8")
    words: list[str] = []
    limit = _bytes_for(first_budget)
    while len(raw) > limit:
        cut = limit
        while raw[cut] & 0xC0 == 0x80:  # never split a UTF-8 sequence
            cut -= 1
        words.append(_encoded_word(raw[:cut]))
        raw = raw[cut:]
        limit = _bytes_for(_MAX_ENCODED_WORD)
    words.append(_encoded_word(raw))
    return (CRLF + " ").join(words)


def _bytes_for(width: int) -> int:
    """How many raw bytes fit in an encoded word of `width` characters (at least one char)."""
    return max((width - _ENCODED_WORD_OVERHEAD) // 4 * 3, 12)


def _encoded_word(chunk: bytes) -> str:
    return f"=?utf-8?b?{base64.b64encode(chunk).decode('ascii')}?="


def _header(name: str, value: str, *, fold: bool = True) -> str:
    """'Name: value', folded at spaces so lines stay near 78 and never exceed 998."""
    line = f"{name}: {value}"
    if fold and len(line) > _FOLD_AT and CRLF not in value:
        line = _fold(line)
    if len(line) > _MAX_LINE and any(len(part) > _MAX_LINE for part in line.split(CRLF)):
        raise ValueError(f"header {name} has a word longer than {_MAX_LINE} characters")
    return line


def _fold(line: str) -> str:
    """Insert CRLF before spaces so that unfolding gives back the same text."""
    out: list[str] = []
    current = ""
    for index, word in enumerate(line.split(" ")):
        if index == 0:
            current = word
        elif len(current) + 1 + len(word) > _FOLD_AT and current.strip():
            out.append(current)
            current = " " + word
        else:
            current += " " + word
    out.append(current)
    return CRLF.join(out)


def _check_header_value(name: str, value: str) -> None:
    if _CONTROL.search(value):
        raise ValueError(f"header {name} contains CR, LF or another control character")


def _check_address(name: str, address: str) -> str:
    _check_header_value(name, address)
    address = address.strip()
    if not address.isascii() or not _ADDRESS.fullmatch(address):
        raise ValueError(f"{name} address {address!r} is not a plain ASCII address")
    return address
