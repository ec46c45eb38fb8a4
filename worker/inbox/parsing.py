"""Raw bytes -> the few facts classification needs, without ever raising on a broken message."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.parser import HeaderParser
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

MAX_MESSAGE_BYTES = 2 * 1024 * 1024  # beyond this only the start is read (attachments go last)
MAX_PARTS = 200
MAX_TEXT_CHARS = 64 * 1024
MAX_HEADER_CHARS = 20_000
MAX_REFERENCES = 40  # the first and last 20 of a long References header
_MESSAGE_ID = re.compile(r"<[^<>\s]{1,250}@[^<>\s]{1,250}>")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_TAG = re.compile(r"<[^>]{0,2000}>")
_BLANKS = re.compile(r"[ \t\r\f\v]+")
_ADDRESS_TYPE = re.compile(r"^\s*rfc822\s*;", re.IGNORECASE)  # DSN "Final-Recipient: rfc822; a@b"
_SEEN_HEADERS = (
    "auto-submitted",
    "x-autoreply",
    "x-autorespond",
    "x-autoresponder",
    "precedence",
    "x-precedence",
    "x-failed-recipients",
    "list-id",
    "return-path",
)


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    """One per-recipient block of a DSN (RFC 3464 section 2.3)."""

    recipient: str | None
    original_recipient: str | None
    action: str  # failed, delayed, delivered, relayed, expanded (lower case)
    status: str  # e.g. 5.1.1
    diagnostic: str = ""


@dataclass
class ParsedMessage:
    key: str  # Message-ID, else a hash of the bytes: the same message twice has one key
    message_id: str | None = None
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    sender: str | None = None  # From, lower case
    to: list[str] = field(default_factory=list)
    subject: str = ""
    date: datetime | None = None
    headers: dict[str, str] = field(default_factory=dict)  # the _SEEN_HEADERS present
    text: str = ""  # the body as plain text, at most MAX_TEXT_CHARS
    report_type: str | None = None  # delivery-status, feedback-report
    dsn: list[RecipientStatus] = field(default_factory=list)
    feedback: dict[str, str] = field(default_factory=dict)  # ARF fields, lower-case names
    original_message_id: str | None = None  # of the returned message inside a DSN / ARF
    original_to: list[str] = field(default_factory=list)
    reported_message_id: str | None = None  # a DSN's own X-Original-Message-ID field (Gmail)
    problems: list[str] = field(default_factory=list)  # what was wrong with the input


def clean(value: object, limit: int = MAX_HEADER_CHARS) -> str:
    """Text any database stores: no NUL, no lone surrogates (undecodable header bytes)."""
    text = str(value)[:limit]
    return _UNSTORABLE.sub("\ufffd", text)


def parse_message(data: bytes) -> ParsedMessage:
    """Never raises: what cannot be read is left out and named in `problems`."""
    problems = []
    if len(data) > MAX_MESSAGE_BYTES:
        problems.append(f"larger than {MAX_MESSAGE_BYTES} bytes: only the start was read")
        data = data[:MAX_MESSAGE_BYTES]
    try:
        message = message_from_bytes(data, policy=policy.default)
    except Exception as exc:  # the parser is lenient; this is a last resort
        return ParsedMessage(key=content_key(data), problems=[f"unparseable: {exc}"])
    parsed = ParsedMessage(key="", problems=problems)
    _read_headers(message, parsed)
    parsed.key = parsed.message_id or content_key(data)
    try:
        _read_body(message, parsed)
    except Exception as exc:  # a broken MIME tree: keep the headers, say why the body is missing
        parsed.problems.append(f"body not readable: {type(exc).__name__}: {clean(exc, 200)}")
    if message.defects:
        parsed.problems.append(
            "MIME defects: " + ", ".join(type(d).__name__ for d in message.defects[:5])
        )
    return parsed


def content_key(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def header(message: Message, name: str) -> str | None:
    """A header as text, or None; a value the header registry chokes on is read raw."""
    try:
        value = message.get(name)
    except Exception:
        raw = message.get_all(name, failobj=[]) if hasattr(message, "get_all") else []
        value = raw[0] if raw else None
    return None if value is None else clean(value)


def message_ids(text: str | None, limit: int = MAX_REFERENCES) -> list[str]:
    """<id@host> tokens; of a long list, the first and last ones (the thread's root and tip)."""
    found = _MESSAGE_ID.findall((text or "")[: MAX_HEADER_CHARS * 5])
    if len(found) > limit:
        found = found[: limit // 2] + found[-limit // 2 :]
    return found


def address(text: str | None) -> str | None:
    """The bare address of a From-like value, lower case, or None."""
    if not text:
        return None
    value = parseaddr(_ADDRESS_TYPE.sub("", text.strip()))[1].strip().lower()
    return value if "@" in value and len(value) <= 320 else None


def _read_headers(message: Message, parsed: ParsedMessage) -> None:
    ids = message_ids(header(message, "Message-ID"), limit=1)
    parsed.message_id = ids[0] if ids else None
    parsed.in_reply_to = message_ids(header(message, "In-Reply-To"), limit=5)
    parsed.references = message_ids(header(message, "References"))
    parsed.sender = address(header(message, "From"))
    to = ", ".join(filter(None, (header(message, "To"), header(message, "Cc"))))
    parsed.to = [a.lower() for _, a in getaddresses([to])[:50] if "@" in a]
    parsed.subject = clean(header(message, "Subject") or "", 500)
    parsed.date = _date(header(message, "Date"))
    for name in _SEEN_HEADERS:
        value = header(message, name)
        if value is not None:
            parsed.headers[name] = value.strip()
    content_type = header(message, "Content-Type") or ""
    found = re.search(r"report-type\s*=\s*\"?([\w-]+)", content_type, re.IGNORECASE)
    if found and message.get_content_type() == "multipart/report":
        parsed.report_type = found[1].lower()


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _read_body(message: Message, parsed: ParsedMessage) -> None:
    texts: list[str] = []
    html: list[str] = []
    for index, part in enumerate(message.walk()):
        if index >= MAX_PARTS:
            parsed.problems.append(f"more than {MAX_PARTS} MIME parts: the rest was not read")
            break
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            parsed.dsn.extend(_dsn_records(part))
            parsed.report_type = parsed.report_type or "delivery-status"
            parsed.reported_message_id = parsed.reported_message_id or _reported_id(part)
        elif kind == "message/feedback-report":
            parsed.feedback.update(_fields(_part_text(part)))
            parsed.report_type = "feedback-report"
        elif kind in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            _read_original(part, parsed)
        elif kind == "text/plain" and not _is_attachment(part) and not texts:
            texts.append(_part_text(part))
        elif kind == "text/html" and not _is_attachment(part) and not html:
            html.append(_part_text(part))
    body = texts[0] if texts else _strip_html(html[0]) if html else ""
    parsed.text = clean(body, MAX_TEXT_CHARS)


def _is_attachment(part: Message) -> bool:
    disposition = (header(part, "Content-Disposition") or "").lower()
    return disposition.startswith("attachment")


def _part_text(part: Message) -> str:
    """A part's decoded text; unknown charsets and bad encodings are replaced, not raised."""
    if isinstance(part, EmailMessage):
        try:
            content = part.get_content()
            if isinstance(content, str):
                return content[:MAX_TEXT_CHARS]
        except Exception:
            pass
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        charset = part.get_content_charset() or "utf-8"
        try:
            return payload[: MAX_TEXT_CHARS * 4].decode(charset, "replace")[:MAX_TEXT_CHARS]
        except LookupError:
            return payload[: MAX_TEXT_CHARS * 4].decode("utf-8", "replace")[:MAX_TEXT_CHARS]
    raw = part.get_payload()
    if isinstance(raw, list):  # message/* parts parsed into sub-messages
        return "\n\n".join(str(item) for item in raw)[:MAX_TEXT_CHARS]
    return str(raw)[:MAX_TEXT_CHARS]


def _fields(text: str) -> dict[str, str]:
    """`Name: value` lines (continuations folded) with lower-case names."""
    fields: dict[str, str] = {}
    name = None
    for line in text.splitlines()[:500]:
        if line[:1] in (" ", "\t") and name:
            fields[name] += " " + line.strip()
        elif ":" in line:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            fields.setdefault(name, value.strip())
    return {key: clean(value, 1000) for key, value in fields.items()}


def _dsn_records(part: Message) -> list[RecipientStatus]:
    """The per-recipient blocks; the per-message block (no Action) is skipped."""
    blocks = part.get_payload()
    if isinstance(blocks, list) and blocks and all(isinstance(b, Message) for b in blocks):
        texts = [str(b) for b in blocks]
    else:
        texts = re.split(r"\r?\n\s*\r?\n", _part_text(part))
    records = []
    for text in texts[:50]:
        fields = _fields(text)
        if "action" not in fields and "status" not in fields:
            continue
        status = re.search(r"[245]\.\d{1,3}\.\d{1,3}", fields.get("status", ""))
        records.append(
            RecipientStatus(
                recipient=address(fields.get("final-recipient")),
                original_recipient=address(fields.get("original-recipient")),
                action=fields.get("action", "").split()[0].lower() if fields.get("action") else "",
                status=status[0] if status else "",
                diagnostic=fields.get("diagnostic-code", "")[:300],
            )
        )
    return records


def _reported_id(part: Message) -> str | None:
    """Some MTAs name the returned message in the report itself, even without returning it."""
    blocks = part.get_payload()
    text = "\n".join(str(b) for b in blocks) if isinstance(blocks, list) else _part_text(part)
    found = re.search(r"^x-original-message-id:\s*(<[^<>\s]+@[^<>\s]+>)", text, re.I | re.M)
    return found[1] if found else None


def _read_original(part: Message, parsed: ParsedMessage) -> None:
    """Message-ID and To of the message a DSN or ARF report returns."""
    if parsed.original_message_id is not None:
        return
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        original: Message = payload[0]
    else:
        original = HeaderParser(policy=policy.default).parsestr(_part_text(part), headersonly=True)
    ids = message_ids(header(original, "Message-ID"), limit=1)
    parsed.original_message_id = ids[0] if ids else None
    to = header(original, "To") or ""
    parsed.original_to = [a.lower() for _, a in getaddresses([to])[:20] if "@" in a]


def _strip_html(html: str) -> str:
    text = re.sub(r"(?is)<(script|style)[^>]*>.*?</\1>", " ", html[: MAX_TEXT_CHARS * 4])
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", text)
    text = _TAG.sub(" ", text)
    text = re.sub(r"&nbsp;", " ", text)
    return "\n".join(_BLANKS.sub(" ", line).strip() for line in text.splitlines())
