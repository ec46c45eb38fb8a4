"""`followup sla plan` against the clock: what business hours can really hold.

Two checks: each business-hours sequence's planned touches against its own window (does the
timeline fit the promise?), and the reps' `working_hours` over a period against the touches per
lead the plan asks of them (do the hours fit the work?).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from worker.compliance.plan import DAYS_PER_PERIOD, PlanResult
from worker.specs.preview import preview_deadlines, preview_timeline
from worker.specs.rendering import Renderer
from worker.specs.sequences import SequenceSpec
from worker.specs.sla_clock import BUSINESS_HOURS
from worker.specs.team import TeamSpec
from worker.specs.template_checks import SAMPLE_LEAD
from worker.specs.working_time import working_time_between


@dataclass(frozen=True)
class SequenceFit:
    sequence: str
    promised: int  # min_touches
    within: str
    planned_in_time: int  # touches of the timeline that land before the window's deadline

    @property
    def fits(self) -> bool:
        return self.planned_in_time >= self.promised


@dataclass(frozen=True)
class ClockCheck:
    sequences: list[SequenceFit] = field(default_factory=list)
    working_hours_per_rep: float | None = None  # per plan period, from owners' working_hours
    touches_per_lead_that_fit: int | None = None  # at minutes_per_attempt on leads_per_rep

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for item, fit in zip(data["sequences"], self.sequences, strict=True):
            item["fits"] = fit.fits
        return data


def next_monday(now: datetime) -> datetime:
    """A typical arrival: the coming Monday at 00:00 UTC (every window then opens fresh)."""
    day = now.astimezone(UTC).date() + timedelta(days=7 - now.astimezone(UTC).weekday())
    return datetime.combine(day, time(), tzinfo=UTC)


def sequence_fit(
    spec: SequenceSpec, team: TeamSpec, renderer: Renderer, start: datetime
) -> SequenceFit | None:
    """How many of a business-hours sequence's touches land inside its own window."""
    sla = spec.sla
    if sla is None or sla.clock != BUSINESS_HOURS or not sla.min_touches or sla.within is None:
        return None
    timeline = preview_timeline(spec, lead=SAMPLE_LEAD, start=start, renderer=renderer, team=team)
    deadlines = preview_deadlines(spec, lead=SAMPLE_LEAD, start=start, team=team, timeline=timeline)
    window = deadlines[-1]
    in_time = sum(1 for t in timeline if t.due_utc <= window.due_utc)
    return SequenceFit(spec.name, sla.min_touches, str(sla.within), in_time)


def reps_working_hours(team: TeamSpec, period: str, start: datetime) -> float | None:
    """Average working hours per period of the owners with working_hours, less their holidays
    and the team's days off."""
    until = start + timedelta(days=DAYS_PER_PERIOD[period])
    hours = []
    for owner in team.owners:
        spec = owner.working_hours
        if spec is None or not spec.timezone:
            continue
        shifts = spec.working_hours(None, team.days_off)
        worked = working_time_between(start, until, shifts, ZoneInfo(spec.timezone))
        hours.append(worked.total_seconds() / 3600)
    return round(sum(hours) / len(hours), 1) if hours else None


def clock_check(
    plan: PlanResult,
    team: TeamSpec,
    sequences: list[SequenceSpec],
    renderer: Renderer,
    now: datetime,
) -> ClockCheck:
    """Both checks for a plan; empty when nothing runs on business hours."""
    start = next_monday(now)
    fits = [f for f in (sequence_fit(s, team, renderer, start) for s in sequences) if f]
    hours = reps_working_hours(team, plan.target.period, start)
    capacity = plan.capacity
    touches = None
    if hours is not None and capacity is not None and capacity.leads_per_rep > 0:
        per_lead_minutes = capacity.leads_per_rep * capacity.minutes_per_attempt
        touches = math.floor(hours * 60 / per_lead_minutes + 1e-9)
    return ClockCheck(fits, hours, touches)
