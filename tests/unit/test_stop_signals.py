"""A stop signal is noted without taking a lock the interrupted main thread may hold: the
handler runs on the main thread between two bytecodes, possibly inside the stop event's own
wait, where setting the event directly would wait for its lock forever."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from worker.cli.process_signals import stop_on_signals


@pytest.fixture(autouse=True)
def handlers_restored() -> Iterator[None]:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_a_signal_landing_inside_the_stop_events_wait_sets_it_without_a_deadlock() -> None:
    """Given the main thread holding the stop event's lock (as it does for an instant inside
    stop.wait()), when SIGTERM arrives, then the handler returns and the event is set once
    the lock is let go."""
    stop = stop_on_signals()
    with stop._cond:  # type: ignore[attr-defined]  # threading.Event's lock, held as wait() does
        signal.raise_signal(signal.SIGTERM)  # the handler runs here, on this thread
    assert stop.wait(timeout=5)


def test_a_stop_signal_sets_the_event() -> None:
    """Given the handlers installed, when SIGINT arrives, then the stop event is set."""
    stop = stop_on_signals()
    signal.raise_signal(signal.SIGINT)
    assert stop.wait(timeout=5)
