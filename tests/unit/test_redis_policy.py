"""Which Redis maxmemory-policy a worker or scheduler refuses (worker/engine/redis_policy.py)."""

from __future__ import annotations

import pytest

from worker.engine.redis_policy import eviction_refusal


@pytest.mark.parametrize(
    "policy", ["allkeys-lru", "volatile-lru", "allkeys-random", "volatile-ttl"]
)
def test_a_policy_that_can_evict_is_refused_with_the_fix(policy: str) -> None:
    """Given an evicting policy, then the refusal names it, where, and the setting to use."""
    refusal = eviction_refusal(policy, "127.0.0.1:6380/0")
    assert refusal is not None and policy in refusal and "127.0.0.1:6380/0" in refusal
    assert "maxmemory-policy noeviction" in refusal


def test_noeviction_is_accepted() -> None:
    """Given noeviction (any case), then nothing is refused."""
    assert eviction_refusal("NoEviction", "127.0.0.1:6379/0") is None
