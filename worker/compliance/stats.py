"""The statistics A/B variants are judged with: a Wilson interval for a reply rate, a pooled
two-proportion z-test between two variants, and the sends each needs to tell them apart."""

from __future__ import annotations

import math
from statistics import NormalDist

_NORMAL = NormalDist()
Z95 = _NORMAL.inv_cdf(0.975)  # 1.95996...: a two-sided 95% interval


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval (well-behaved at 0 replies and small samples, unlike p +- z*se)."""
    if trials <= 0:
        return None
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion_test(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int
) -> tuple[float, float] | None:
    """(z, two-sided p-value) of b's rate against a's with the pooled standard error; None when
    it is undefined (no trials, or every trial alike so there is no variance)."""
    if trials_a <= 0 or trials_b <= 0:
        return None
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    variance = pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b)
    if variance <= 0:
        return None
    z = (successes_b / trials_b - successes_a / trials_a) / math.sqrt(variance)
    return z, math.erfc(abs(z) / math.sqrt(2))


def sends_needed(rate_a: float, rate_b: float, *, alpha: float, power: float = 0.8) -> int | None:
    """Sends per variant for a two-sided test at `alpha` to find a true difference of this size
    with `power` (the usual normal-approximation formula); None when the rates are equal."""
    if rate_a == rate_b:
        return None
    mean = (rate_a + rate_b) / 2
    z_alpha, z_power = _NORMAL.inv_cdf(1 - alpha / 2), _NORMAL.inv_cdf(power)
    spread = z_alpha * math.sqrt(2 * mean * (1 - mean)) + z_power * math.sqrt(
        rate_a * (1 - rate_a) + rate_b * (1 - rate_b)
    )
    return math.ceil((spread / (rate_a - rate_b)) ** 2)
