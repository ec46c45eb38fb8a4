"""The embedded default: every message becomes a file in a Maildir outbox (no SMTP needed)."""

from __future__ import annotations

import mailbox
import os
import threading
from pathlib import Path

from worker.engine.clock import Clock, SystemClock
from worker.mail.base import PermanentSendError, TransientSendError
from worker.mail.message import OutgoingEmail, to_bytes

_SUBDIRS = ("tmp", "new", "cur")


class MaildirMailer:
    """Writes each message to `directory/new`, created on first use; readable by any mail tool."""

    def __init__(self, directory: Path, *, clock: Clock | None = None) -> None:
        self.directory = Path(directory)
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._maildir: mailbox.Maildir | None = None

    def send(self, email: OutgoingEmail) -> None:
        try:
            data = to_bytes(email, date=self._clock.now())
        except ValueError as error:
            raise PermanentSendError(f"invalid message: {error}") from None
        data = data.replace(b"\r\n", b"\n")  # Maildir files use local line endings
        try:
            with self._lock:  # Maildir's unique-name counter is not thread-safe
                self._open().add(data)
        except OSError as error:  # disk full, permissions: may clear up
            raise TransientSendError(f"cannot write to outbox {self.directory}: {error}") from None

    def close(self) -> None:
        """Nothing to release: each add() opens and closes its own file."""

    def check(self) -> str | None:
        path = self.directory
        if path.exists():
            if not path.is_dir():
                return f"outbox {path} is not a directory"
            for sub in (path, *(path / name for name in _SUBDIRS)):
                if sub.exists() and not os.access(sub, os.W_OK | os.X_OK):
                    return f"outbox {sub} is not writable"
            return None
        parent = path.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            return f"outbox {path} cannot be created: {parent} is not writable"
        return None

    def _open(self) -> mailbox.Maildir:
        """The Maildir, with tmp/new/cur created even inside an existing empty folder."""
        if self._maildir is None:
            for name in _SUBDIRS:
                (self.directory / name).mkdir(parents=True, exist_ok=True)
            self._maildir = mailbox.Maildir(self.directory, create=True)
        return self._maildir
