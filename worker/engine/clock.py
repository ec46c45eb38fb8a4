"""The one source of "now": the system clock in production, a virtual one for demo and tests."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ShiftedClock:
    """The system clock moved by a fixed offset (FOLLOWUP_CLOCK_OFFSET_SECONDS, tests only)."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def system_clock(offset_seconds: float = 0.0) -> Clock:
    """The production clock, shifted only when a test asks for it."""
    return ShiftedClock(timedelta(seconds=offset_seconds)) if offset_seconds else SystemClock()


class VirtualClock:
    """Time that moves only when told to; shared safely between worker threads."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("VirtualClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now

    def move_to(self, when: datetime) -> datetime:
        """Jump forward to `when`; never moves backwards."""
        with self._lock:
            self._now = max(self._now, when.astimezone(UTC))
            return self._now
