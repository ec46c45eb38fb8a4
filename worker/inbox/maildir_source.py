"""The embedded default inbox: a Maildir whose new/ files are read once, then moved to cur/."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from worker.inbox.parsing import MAX_MESSAGE_BYTES
from worker.inbox.recording import RawMessage

_SUBDIRS = ("tmp", "new", "cur")


class MaildirSource:
    """FOLLOWUP_INBOX_DIR: drop a message file into new/ and the next tick reads it."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.name = f"maildir:{self.directory}"
        self._paths: dict[str, Path] = {}  # uid -> its file in new/, from the last fetch

    def open(self) -> int:
        """The UIDVALIDITY: a Maildir has none (new/ holds exactly what is unread)."""
        for name in _SUBDIRS:
            (self.directory / name).mkdir(parents=True, exist_ok=True)
        return 0

    def fetch(self, *, after_uid: int = 0) -> Iterator[RawMessage]:
        """Every file in new/, oldest first; a file that vanished meanwhile is skipped."""
        del after_uid  # no cursor needed
        new = self.directory / "new"
        entries = []
        for entry in os.scandir(new):
            if entry.is_file() and not entry.name.startswith("."):
                entries.append((entry.stat().st_mtime, entry.name))
        for mtime, name in sorted(entries):
            try:
                with open(new / name, "rb") as handle:
                    data = handle.read(MAX_MESSAGE_BYTES + 1)
            except FileNotFoundError:  # another watcher took it
                continue
            self._paths[_unique_part(name)] = new / name
            yield RawMessage(
                uidvalidity=0,
                uid=_unique_part(name),
                data=data,
                arrived_at=datetime.fromtimestamp(mtime, UTC),
            )

    def done(self, message: RawMessage, *, recognised: bool) -> None:
        """new/NAME -> cur/NAME:2,S (Maildir's "seen") whatever it was: read once, never deleted."""
        del recognised
        path = self._paths.pop(message.uid, None)
        if path is not None:
            with contextlib.suppress(FileNotFoundError):  # moved by another watcher meanwhile
                os.replace(path, self.directory / "cur" / f"{message.uid}:2,S")

    def wait(self, seconds: float, stop: threading.Event) -> None:
        stop.wait(seconds)

    def close(self) -> None:
        """Nothing to release."""

    def check(self) -> str | None:
        if self.directory.exists() and not os.access(self.directory, os.R_OK | os.W_OK | os.X_OK):
            return f"inbox {self.directory} is not readable and writable"
        return None


def _unique_part(name: str) -> str:
    """A Maildir file's name without its ":2,FLAGS" info part (the name that stays unique)."""
    return name.split(":", 1)[0][:255]
