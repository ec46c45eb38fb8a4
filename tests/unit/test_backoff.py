"""Retry backoff (issue 9, defect 4): exponential, jittered as dramatiq's compute_backoff."""

from __future__ import annotations

from datetime import timedelta
from random import Random

import pytest

from worker.flow.backoff import retry_delay

BASE, CAP = timedelta(seconds=30), timedelta(hours=1)


@pytest.mark.parametrize("attempts", range(1, 16))
def test_each_delay_is_1_to_2_times_the_doubled_base_and_never_past_the_cap(attempts: int) -> None:
    """Attempt n waits 30s * 2**(n-1) stretched 1-2x; past the hour cap, 30-60 minutes."""
    rng = Random(attempts)
    delays = [retry_delay(attempts, base=BASE, cap=CAP, rng=rng) for _ in range(200)]
    doubled = BASE * 2 ** (attempts - 1)
    assert min(delays) >= min(doubled, CAP / 2)
    assert max(delays) <= min(doubled * 2, CAP)


def test_touches_failed_at_the_same_instant_come_back_spread_out() -> None:
    """A hundred touches failed by one outage get a hundred different retry times."""
    rng = Random(9)
    delays = {retry_delay(3, base=BASE, cap=CAP, rng=rng) for _ in range(100)}
    assert len(delays) == 100
    spread = max(delays) - min(delays)
    assert spread > timedelta(seconds=60)  # of the 120-240s range
