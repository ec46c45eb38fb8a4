"""WHERE AN EMAIL IS HANDED OVER: one sender interface; SMTP, a Maildir outbox, or memory."""

from __future__ import annotations

from pathlib import Path

from worker.engine.clock import Clock
from worker.mail.base import (
    PermanentSendError,
    Sender,
    SendError,
    TransientSendError,
    classify_smtp_reply,
)
from worker.mail.maildir import MaildirSender
from worker.mail.memory import MemorySender
from worker.mail.message import OutgoingEmail, make_message_id, to_bytes
from worker.mail.smtp import SmtpSender
from worker.mail.smtp_url import SmtpTarget, parse_smtp_url

__all__ = [
    "MaildirSender",
    "MemorySender",
    "OutgoingEmail",
    "PermanentSendError",
    "SendError",
    "Sender",
    "SmtpSender",
    "SmtpTarget",
    "TransientSendError",
    "classify_smtp_reply",
    "make_message_id",
    "make_sender",
    "parse_smtp_url",
    "to_bytes",
]


def make_sender(smtp_url: str | None, outbox_dir: Path, *, clock: Clock | None = None) -> Sender:
    """SMTP when FOLLOWUP_SMTP_URL is set, else the Maildir outbox; ValueError for a bad URL."""
    if smtp_url is not None and smtp_url.strip():
        return SmtpSender(smtp_url, clock=clock)
    return MaildirSender(outbox_dir, clock=clock)
