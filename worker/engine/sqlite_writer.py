"""SQLite's one writer, handed from transaction to transaction without SQLite's busy handler.

Threads of a process wait on a threading.Lock, handed over the moment its holder commits. The
processes (scheduler, workers, API) wait on an flock of a file beside the database, which a
waiter polls every 0.5 ms at most. Without it they met at SQLite's busy handler, which sleeps 1,
2, 5, 10 ... 25 ms between tries: in the send bench a writer waited 3.5-6 ms for a lock held
2-3 ms, and the lock stood idle half the time (issue 15). A process that dies lets go of its
flock with its file. Anything else writing (the sqlite3 shell) still meets the busy handler.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time

FIRST_PAUSE_SECONDS = 0.00005  # a waiter's first pause between two tries of the flock ...
LONGEST_PAUSE_SECONDS = 0.0005  # ... doubled up to this: a freed lock idles half a ms at most


class WriterLock:
    """The writer lock of one SQLite database for this process (file lock: `path`, or none)."""

    def __init__(self, path: str | None) -> None:
        self._threads = threading.Lock()
        self._path = path
        self._file: int | None = None
        self._pid: int | None = None

    def acquire(self, timeout: float) -> bool:
        """Both locks within `timeout` seconds (False: neither held; SQLite's own busy timeout
        then decides). The file lock is skipped where its file cannot be opened."""
        deadline = time.monotonic() + timeout
        if not self._threads.acquire(timeout=timeout):
            return False
        held = self._locked_file(deadline)
        if held is False:
            self._threads.release()
            return False
        return True

    def release(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            fcntl.flock(self._file, fcntl.LOCK_UN)
        self._threads.release()

    def _locked_file(self, deadline: float) -> bool | None:
        """True once this process holds the file lock, False at the deadline, None without a
        file (in-memory database, or one this user cannot open: SQLite alone then)."""
        handle = self._open()
        if handle is None:
            return None
        pause = FIRST_PAUSE_SECONDS
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(pause)
                pause = min(pause * 2, LONGEST_PAUSE_SECONDS)

    def _open(self) -> int | None:
        """The lock file, opened once per process (a forked child must not share its parent's
        open file, whose flock would then be held by both)."""
        if self._path is None:
            return None
        if self._pid != os.getpid():
            self._pid = os.getpid()
            try:
                self._file = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError:
                self._file = None
        return self._file


def writer_lock_path(database: str | None) -> str | None:
    """The lock file beside a database file (`followup.db` -> `followup.db-writer`); none for an
    in-memory database."""
    if not database or database == ":memory:" or "mode=memory" in database:
        return None
    return f"{database}-writer"
