"""The marketing SLA from four metrics, and whether the reps' hours can keep the promise."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from worker.specs.sequences import SequenceSpec
from worker.specs.team import SlaPlan

DAYS_PER_PERIOD = {"month": 365.25 / 12, "quarter": 365.25 / 4}
DAYS_PER_WEEK = 7
_EPSILON = 1e-9  # 40 / 0.02 must stay 2000 when floating point lands a hair above it


def whole(value: float) -> int:
    """Round a "needed" figure up: half a customer still has to be a whole one."""
    return math.ceil(value - _EPSILON)


@dataclass(frozen=True)
class MarketingTarget:
    """What marketing owes sales per period: revenue -> customers -> leads."""

    period: str
    revenue_goal: float
    marketing_share: float
    marketing_revenue_goal: float
    average_deal_size: float
    close_rate: float
    customers_needed: int
    leads_needed: int
    leads_per_week: float
    leads_per_day: float


@dataclass(frozen=True)
class CapacityCheck:
    """Can the reps work every delivered lead the promised number of times in their hours?"""

    reps: int
    leads_per_rep: float
    attempts_per_lead: int
    attempts_per_rep: float
    minutes_per_attempt: float
    hours_needed_per_rep: float
    hours_needed_per_rep_per_week: float
    selling_hours_per_rep: float | None
    utilisation: float | None  # hours needed / selling hours
    fits: bool | None
    reps_needed: int | None  # reps it would take at these selling hours
    attempts_that_fit: int | None  # attempts per lead the current reps can give


@dataclass(frozen=True)
class PlanResult:
    target: MarketingTarget
    capacity: CapacityCheck | None
    missing: tuple[str, ...]  # what the capacity check still needs, by team.yaml key

    @property
    def warning(self) -> str | None:
        """One line for the sales leader when the follow-up promise cannot fit the reps' time."""
        check = self.capacity
        if check is None or check.fits is not False:
            return None
        assert check.selling_hours_per_rep is not None
        return (
            f"the follow-up promise does not fit: each rep needs "
            f"{check.hours_needed_per_rep:,.1f} h per {self.target.period} for "
            f"{check.attempts_per_lead} attempts on {check.leads_per_rep:,.1f} leads but has "
            f"{check.selling_hours_per_rep:,.1f} selling h; "
            f"it takes {check.reps_needed} reps, or at most {check.attempts_that_fit} "
            f"manual attempts per lead (automate the rest)"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": asdict(self.target),
            "capacity": asdict(self.capacity) if self.capacity else None,
            "missing": list(self.missing),
            "warning": self.warning,
        }


def marketing_target(plan: SlaPlan) -> MarketingTarget:
    """Revenue goal x share / deal size = customers; / close rate = leads, per period and week."""
    marketing_goal = plan.revenue_goal * plan.marketing_share
    customers = whole(marketing_goal / plan.average_deal_size)
    leads = whole(customers / plan.close_rate)
    days = DAYS_PER_PERIOD[plan.period]
    return MarketingTarget(
        period=plan.period,
        revenue_goal=plan.revenue_goal,
        marketing_share=plan.marketing_share,
        marketing_revenue_goal=marketing_goal,
        average_deal_size=plan.average_deal_size,
        close_rate=plan.close_rate,
        customers_needed=customers,
        leads_needed=leads,
        leads_per_week=leads / days * DAYS_PER_WEEK,
        leads_per_day=leads / days,
    )


def capacity_check(
    target: MarketingTarget,
    *,
    reps: int,
    attempts_per_lead: int,
    minutes_per_attempt: float,
    selling_hours_per_rep: float | None,
) -> CapacityCheck:
    """Leads per rep x attempts x minutes against the selling hours each rep has per period."""
    leads_per_rep = target.leads_needed / reps
    attempts_per_rep = leads_per_rep * attempts_per_lead
    hours = attempts_per_rep * minutes_per_attempt / 60
    weeks = DAYS_PER_PERIOD[target.period] / DAYS_PER_WEEK
    utilisation = fits = reps_needed = attempts_that_fit = None
    if selling_hours_per_rep is not None:
        utilisation = round(hours / selling_hours_per_rep, 3)
        fits = hours <= selling_hours_per_rep + _EPSILON
        reps_needed = whole(hours * reps / selling_hours_per_rep)
        per_lead_minutes = leads_per_rep * minutes_per_attempt
        attempts_that_fit = math.floor(selling_hours_per_rep * 60 / per_lead_minutes + _EPSILON)
    return CapacityCheck(
        reps=reps,
        leads_per_rep=leads_per_rep,
        attempts_per_lead=attempts_per_lead,
        attempts_per_rep=attempts_per_rep,
        minutes_per_attempt=minutes_per_attempt,
        hours_needed_per_rep=hours,
        hours_needed_per_rep_per_week=hours / weeks,
        selling_hours_per_rep=selling_hours_per_rep,
        utilisation=utilisation,
        fits=fits,
        reps_needed=reps_needed,
        attempts_that_fit=attempts_that_fit,
    )


def promised_attempts(sequences: Iterable[SequenceSpec]) -> int | None:
    """The most touches any sequence's SLA promises: what each lead must get, at the least."""
    counts = [s.sla.min_touches for s in sequences if s.sla and s.sla.min_touches]
    return max(counts) if counts else None


def plan_sla(plan: SlaPlan, *, promised_attempts: int | None = None) -> PlanResult:
    """The whole plan; `promised_attempts` (the sequences' min_touches) stands in for attempts."""
    target = marketing_target(plan)
    attempts = plan.attempts_per_lead or promised_attempts
    needed = {
        "reps": plan.reps,
        "attempts_per_lead": attempts,
        "minutes_per_attempt": plan.minutes_per_attempt,
    }
    missing = tuple(name for name, value in needed.items() if value is None)
    if plan.selling_hours_per_rep is None:
        missing += ("selling_hours_per_rep",)
    if plan.reps is None or attempts is None or plan.minutes_per_attempt is None:
        return PlanResult(target, None, missing)
    check = capacity_check(
        target,
        reps=plan.reps,
        attempts_per_lead=attempts,
        minutes_per_attempt=plan.minutes_per_attempt,
        selling_hours_per_rep=plan.selling_hours_per_rep,
    )
    return PlanResult(target, check, missing)
