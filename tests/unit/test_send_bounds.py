"""The sending lease outlasts the longest send (issue 9, defect 2): checked at import, and on the
FOLLOWUP_LEASE_SECONDS path."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from worker.engine.tunables import (
    ACTOR_TIME_LIMIT,
    DEFAULT_BOUNDS,
    SENDING_LEASE,
    SMTP_TIMEOUT_SECONDS,
    LeaseError,
    lease,
    send_bounds,
)


def test_the_default_time_limit_and_smtp_timeout_fit_inside_the_sending_lease() -> None:
    """The defaults: a killed worker's touches come back within tens of seconds, a live send
    is never taken over."""
    assert DEFAULT_BOUNDS.longest_send < SENDING_LEASE <= timedelta(minutes=2)
    assert ACTOR_TIME_LIMIT < SENDING_LEASE
    assert send_bounds(None) is DEFAULT_BOUNDS


def test_a_time_limit_longer_than_the_lease_is_refused_naming_both() -> None:
    """A 10-minute time limit under a 3-minute lease (the old defaults) raises."""
    old = replace(
        DEFAULT_BOUNDS,
        sending_lease=timedelta(minutes=3),
        time_limit=timedelta(minutes=10),
        smtp_timeout=30.0,
    )
    with pytest.raises(LeaseError, match=r"sending lease \(180s\) must outlast .* 600s"):
        old.checked()


@pytest.mark.parametrize("seconds", [1.0, 2.0, 5.0, 30.0, 90.0, 3600.0])
def test_a_shortened_lease_shrinks_the_time_limit_and_smtp_timeout_with_it(seconds: float) -> None:
    """FOLLOWUP_LEASE_SECONDS sets both leases; the send still fits inside."""
    bounds = send_bounds(seconds)
    assert bounds.queued_lease == bounds.sending_lease == timedelta(seconds=seconds)
    assert bounds.longest_send < bounds.sending_lease
    assert bounds.time_limit <= ACTOR_TIME_LIMIT and bounds.smtp_timeout <= SMTP_TIMEOUT_SECONDS
    assert lease(SENDING_LEASE, seconds) == timedelta(seconds=seconds)
