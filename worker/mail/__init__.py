"""WHERE AN EMAIL IS HANDED OVER: one mailer interface; SMTP, a Maildir outbox, or memory."""

from __future__ import annotations

from pathlib import Path

from worker.engine.clock import Clock
from worker.engine.tunables import SMTP_TIMEOUT_SECONDS
from worker.mail.base import (
    Mailer,
    PermanentSendError,
    SendError,
    TransientSendError,
    classify_smtp_reply,
)
from worker.mail.dkim import DkimSigner
from worker.mail.maildir import MaildirMailer
from worker.mail.memory import MemoryMailer
from worker.mail.message import OutgoingEmail, make_message_id, to_bytes
from worker.mail.smtp import SmtpMailer
from worker.mail.smtp_url import SmtpTarget, parse_smtp_url

__all__ = [
    "DkimSigner",
    "MaildirMailer",
    "Mailer",
    "MemoryMailer",
    "OutgoingEmail",
    "PermanentSendError",
    "SendError",
    "SmtpMailer",
    "SmtpTarget",
    "TransientSendError",
    "classify_smtp_reply",
    "make_mailer",
    "make_message_id",
    "parse_smtp_url",
    "to_bytes",
]


def make_mailer(
    smtp_url: str | None,
    outbox_dir: Path,
    *,
    clock: Clock | None = None,
    signer: DkimSigner | None = None,
    timeout: float = SMTP_TIMEOUT_SECONDS,
) -> Mailer:
    """SMTP when FOLLOWUP_SMTP_URL is set, else the Maildir outbox; ValueError for a bad URL.
    Both DKIM-sign with `signer` right before the message leaves."""
    if smtp_url is not None and smtp_url.strip():
        return SmtpMailer(smtp_url, clock=clock, signer=signer, timeout=timeout)
    return MaildirMailer(outbox_dir, clock=clock, signer=signer)
