"""A per-key budget of writes: a token bucket in this process's memory.

Per process on purpose: no round trip or new failure mode on every write (Redis is optional and
the database is what the limit protects). With N API processes behind one balancer a key gets
at most N times the budget; FOLLOWUP_API_RATE_LIMIT is set with that in mind.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class WriteBudget:
    """`per_minute` writes per key, refilled evenly, with a burst of one minute's worth."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key name -> (tokens, when)

    def take(self, name: str) -> float | None:
        """None when the write may go ahead, else the seconds until it may (Retry-After)."""
        if self.per_minute <= 0:
            return None
        now, rate = self._clock(), self.per_minute / 60.0
        tokens, then = self._buckets.get(name, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - then) * rate)
        if tokens >= 1.0:
            self._buckets[name] = (tokens - 1.0, now)
            return None
        self._buckets[name] = (tokens, now)
        return (1.0 - tokens) / rate
