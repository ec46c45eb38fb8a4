"""Micro-benchmark: µs per message for worker.mail.to_bytes vs. EmailMessage (default policy).

Run from the repository root: PYTHONPATH=. .venv/bin/python bench/bench_mime.py [iterations].
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import sys
import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage

from worker.mail.message import OutgoingEmail, make_message_id, to_bytes

DATE = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)
TEXT = "Hi Jörg,\n\nfollowing up on our call about the renewal.\n\nBest,\nAna\n" * 4
HTML = "<p>Hi Jörg,</p><p>following up on our call about the renewal.</p>" * 4
EMAIL = OutgoingEmail(
    sender="Ana Müller <ana@example.com>",
    to="joerg@example.org",
    subject="Grüße — quick follow-up on the renewal",
    text=TEXT,
    html=HTML,
    message_id=make_message_id("example.com"),
    headers=(
        ("List-Unsubscribe", "<https://example.com/unsubscribe/abcdef0123456789>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    ),
)
SMTP_POLICY = policy.default.clone(linesep="\r\n")


def with_email_message(email: OutgoingEmail) -> bytes:
    """The straightforward stdlib way, for comparison."""
    message = EmailMessage()
    message["From"] = email.sender
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Date"] = DATE
    message["Message-ID"] = email.message_id
    for name, value in email.headers:
        message[name] = value
    message.set_content(email.text)
    if email.html is not None:
        message.add_alternative(email.html, subtype="html")
    return message.as_bytes(policy=SMTP_POLICY)


def per_message_us(function: Callable[[OutgoingEmail], bytes], iterations: int) -> float:
    timer = timeit.Timer(lambda: function(EMAIL))
    best = min(timer.repeat(repeat=5, number=iterations))
    return best / iterations * 1e6


def main() -> None:
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 500

    def ours(email: OutgoingEmail) -> bytes:
        return to_bytes(email, date=DATE)

    fast = per_message_us(ours, iterations)
    slow = per_message_us(with_email_message, iterations)
    print(f"to_bytes (multipart, non-ASCII)     {fast:8.1f} µs/message")
    print(f"EmailMessage, default policy        {slow:8.1f} µs/message")
    print(f"speed-up                            {slow / fast:8.1f}x")


if __name__ == "__main__":
    main()
