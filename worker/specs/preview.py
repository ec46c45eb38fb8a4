"""The timeline a lead would get, computed by the same planning code the scheduler uses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from worker.specs.calendar import plan_due
from worker.specs.rendering import Renderer, RenderError, build_context
from worker.specs.sequences import SequenceSpec
from worker.specs.sla_clock import sla_clock_for
from worker.specs.team import TeamSpec


@dataclass(frozen=True)
class PlannedTouch:
    step: str
    kind: str
    due_utc: datetime
    due_local: datetime
    subject: str


def preview_timeline(
    spec: SequenceSpec,
    *,
    lead: dict[str, Any],
    start: datetime,
    renderer: Renderer,
    team: TeamSpec,
) -> list[PlannedTouch]:
    """Each step due after the previous one, assuming every touch completes when due."""
    zone = spec.zone_for(lead.get("timezone"))
    timeline: list[PlannedTouch] = []
    after = start
    first_subject = ""
    for step in spec.steps:
        due = plan_due(after, step.wait, spec.calendar, zone)
        context = build_context(
            lead=lead,
            owner=team.owner(lead.get("owner")),
            owner_email=lead.get("owner"),
            sequence=spec,
            step=step.id,
            unsubscribe_url="https://example.com/unsubscribe/preview",
        )
        try:
            if step.task:
                subject = f"task: {renderer.render_text(step.task, context)}"
            else:
                assert step.email is not None
                subject = renderer.render_email(step.email, context).subject
                if not subject and step.thread:
                    subject = f"Re: {first_subject}"
                first_subject = first_subject or subject
        except RenderError as exc:
            subject = f"(render error: {exc})"
        timeline.append(
            PlannedTouch(
                step.id, "task" if step.task else "email", due, due.astimezone(zone), subject
            )
        )
        after = due
    return timeline


@dataclass(frozen=True)
class PlannedDeadline:
    name: str  # "first touch" or "6 touches"
    due_utc: datetime
    due_local: datetime
    at_risk_utc: datetime
    clock: str
    met_by_plan: bool  # the planned touches land in time, if each completes when due


def preview_deadlines(
    spec: SequenceSpec,
    *,
    lead: dict[str, Any],
    start: datetime,
    team: TeamSpec,
    timeline: list[PlannedTouch],
) -> list[PlannedDeadline]:
    """Each SLA deadline on the sequence's clock, and whether the timeline above keeps it."""
    if spec.sla is None:
        return []
    owner = team.owner(lead.get("owner"))
    clock = sla_clock_for(spec, owner.working_hours if owner else None, lead.get("timezone"))
    share, start = team.at_risk_after, start.astimezone(UTC)
    planned = sorted(t.due_utc for t in timeline)
    wanted = []
    if spec.sla.first_touch_within is not None:
        wanted.append(("first touch", spec.sla.first_touch_within, 1))
    if spec.sla.within is not None and spec.sla.min_touches:
        wanted.append((f"{spec.sla.min_touches} touches", spec.sla.within, spec.sla.min_touches))
    deadlines = []
    for name, duration, needed in wanted:
        due, risk = clock.deadline_and_risk(start, duration, share)
        met = len(planned) >= needed and planned[needed - 1] <= due
        deadlines.append(
            PlannedDeadline(name, due, due.astimezone(clock.zone), risk, clock.name, met)
        )
    return deadlines
