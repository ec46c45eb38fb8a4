"""Reading followup's counters in tests."""

from __future__ import annotations

from prometheus_client import REGISTRY


def sample(name: str, **labels: str) -> float:
    """The current value of one sample of the default registry (0 when absent)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0
