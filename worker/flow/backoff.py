"""How long a transient send failure waits before its next attempt: exponential, jittered (as
dramatiq's compute_backoff), capped, so touches failed together by an outage come back spread
out instead of at the same instants."""

from __future__ import annotations

from datetime import timedelta
from random import Random


def retry_delay(attempts: int, *, base: timedelta, cap: timedelta, rng: Random) -> timedelta:
    """After attempt `attempts` (1 = the first): base * 2**(attempts-1), stretched by 1-2x; one
    past `cap` is 50-100% of it (dramatiq.common.compute_backoff's jitter, on an injected rng)."""
    exponent = min(max(attempts - 1, 0), 32)
    delay = base * (2**exponent) * rng.uniform(1, 2)
    return cap * rng.uniform(0.5, 1) if delay > cap else delay
