"""How the long-running commands stop: the first SIGINT/SIGTERM asks them to finish cleanly; for
the worker a second one ends the process at once (nothing is lost: leases re-drive its touches)."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable

from worker.engine.tunables import DUPLICATE_SIGNAL_WINDOW

log = logging.getLogger("followup")


def stop_on_signals(*, second_exits: bool = False) -> threading.Event:
    """An event the first SIGINT/SIGTERM sets. With `second_exits`, another signal more than
    DUPLICATE_SIGNAL_WINDOW later (not the same stop sent to the group and forwarded by a parent)
    exits at once with 128 + the signal's number."""
    stop = threading.Event()
    first: list[float] = []

    def handle(signum: int, _frame: object) -> None:
        now = time.monotonic()
        if second_exits and first and now - first[0] > DUPLICATE_SIGNAL_WINDOW.total_seconds():
            log.warning("second stop signal: exiting now; leases re-drive what was in flight")
            os._exit(128 + signum)
        if not first:
            first.append(now)
        # Set from a thread of its own, never here: the handler runs on the main thread between
        # two bytecodes, maybe inside stop.wait() holding the event's lock, and set() would then
        # wait for that lock forever (a worker child that never stopped, SIGKILLed in CI).
        threading.Thread(target=stop.set, name="stop-signal", daemon=True).start()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handle)
    return stop


def wait_for(stop: threading.Event, while_: Callable[[], bool] = lambda: True) -> None:
    """Block until a signal (short waits keep the main thread responsive to it)."""
    while not stop.is_set() and while_():
        stop.wait(0.5)


def verbose(level: str) -> None:
    """The followup loggers of a long-running process say what it does: FOLLOWUP_LOG_LEVEL,
    `info` unless set (a one-shot command's stay at `warning`)."""
    logging.getLogger("followup").setLevel(level.upper())
