"""A mailer that keeps messages in memory, with scripted failures, for tests and simulations."""

from __future__ import annotations

import threading
from collections import deque

from worker.mail.base import SendError
from worker.mail.message import OutgoingEmail


class MemoryMailer:
    """Records accepted messages in `sent` and raises the failures a test scripted."""

    def __init__(self) -> None:
        self.sent: list[OutgoingEmail] = []
        self.attempts: list[OutgoingEmail] = []  # every send() call, accepted or not
        self.closed = False
        self.check_reason: str | None = None  # what check() answers; set it to fake an outage
        self._lock = threading.Lock()
        self._next: deque[SendError] = deque()
        self._per_address: dict[str, SendError] = {}

    def fail_next(self, error: SendError, times: int = 1) -> None:
        """The next `times` sends (any address) raise `error`, after address rules."""
        with self._lock:
            self._next.extend([error] * times)

    def fail_for(self, address: str, error: SendError) -> None:
        """Every send to `address` (case-insensitive) raises `error` until `clear_failures()`."""
        with self._lock:
            self._per_address[address.lower()] = error

    def clear_failures(self) -> None:
        """Forget every scripted failure."""
        with self._lock:
            self._next.clear()
            self._per_address.clear()

    def send(self, email: OutgoingEmail) -> None:
        with self._lock:
            self.attempts.append(email)
            error = self._per_address.get(email.to.lower())
            if error is None and self._next:
                error = self._next.popleft()
            if error is None:
                self.sent.append(email)
                return
        raise error.with_traceback(None)  # a scripted error may be raised many times

    def close(self) -> None:
        self.closed = True

    def check(self) -> str | None:
        return self.check_reason

    def sent_to(self, address: str) -> list[OutgoingEmail]:
        """The accepted messages for one address, oldest first."""
        with self._lock:
            return [email for email in self.sent if email.to.lower() == address.lower()]
