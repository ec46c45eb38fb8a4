"""The mailer interface (where an email goes) and the two kinds of send error mailers report."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from worker.mail.message import OutgoingEmail

# RFC 3463 enhanced status code at the start of the reply text, e.g. "5.1.1 no such user".
_LEADING_STATUS = re.compile(r"\s*([245])\.(\d{1,3})\.(\d{1,3})(?!\d)")
# Some servers put it elsewhere: "550 Requested action not taken (5.1.1)".
_ANY_STATUS = re.compile(r"(?<![\d.])5\.1\.(\d{1,3})(?![\d.])")
# 5.1.7 and 5.1.8 are about OUR sender address; suppressing the recipient for them is wrong.
_SENDER_SUBJECTS = frozenset({"7", "8"})


class SendError(Exception):
    """A send that did not end in acceptance; `reason` is one line for people and the row."""

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.reason, self.code))


class TransientSendError(SendError):
    """4xx, connection refused/reset, timeout: retry later."""


class PermanentSendError(SendError):
    """5xx: do not retry; `suppress` when the recipient address itself is bad (5.1.x)."""

    def __init__(self, reason: str, code: int | None = None, suppress: bool = False) -> None:
        super().__init__(reason, code)
        self.suppress = suppress

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.reason, self.code, self.suppress))


@runtime_checkable
class Mailer(Protocol):
    """Where an email goes: SMTP, a Maildir outbox, or memory in tests."""

    def send(self, email: OutgoingEmail) -> None:
        """Return on acceptance; raise a SendError subclass otherwise."""
        ...

    def close(self) -> None:
        """Release connections; the mailer may be used again afterwards."""
        ...

    def check(self) -> str | None:
        """None when the server/outbox answers, else a one-line reason."""
        ...


def classify_smtp_reply(code: int, message: str | bytes, *, stage: str = "RCPT") -> SendError:
    """The one place that maps an SMTP reply to transient, permanent or permanent+suppress.

    `stage` is the command answered: only a refusal at RCPT or DATA can blame the recipient.
    """
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    text = " ".join(message.split())
    reason = f"{code} {text}".strip() if code > 0 else text or "no reply from the SMTP server"
    if 500 <= code <= 599:
        suppress = stage.upper() in ("RCPT", "DATA") and _is_bad_recipient(code, text)
        return PermanentSendError(reason, code, suppress=suppress)
    # 4xx, and anything a server should not have said here (2xx/3xx/garbage): try again later.
    return TransientSendError(reason, code if code > 0 else None)


def _is_bad_recipient(code: int, text: str) -> bool:
    """True for enhanced status 5.1.x about the recipient (bad mailbox, domain or syntax)."""
    leading = _LEADING_STATUS.match(text)
    if leading is not None:
        return leading[1] == "5" and leading[2] == "1" and leading[3] not in _SENDER_SUBJECTS
    if code in (550, 551, 553):
        found = _ANY_STATUS.search(text)
        return found is not None and found[1] not in _SENDER_SUBJECTS
    return False
