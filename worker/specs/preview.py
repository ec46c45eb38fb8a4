"""The timeline a lead would get, computed by the same planning code the scheduler uses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from worker.specs.calendar import plan_due
from worker.specs.rendering import Renderer, RenderError, reply_subject
from worker.specs.sequences import SequenceSpec, StepSpec
from worker.specs.sla_clock import sla_clock_for
from worker.specs.team import TeamSpec
from worker.specs.template_checks import context_for


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
    default_from: str | None = None,
) -> list[PlannedTouch]:
    """Each step due after the previous one, assuming every touch completes when due."""
    zone = spec.zone_for(lead.get("timezone"))
    timeline: list[PlannedTouch] = []
    after = start
    first_subject = ""
    for step in spec.steps:
        due = plan_due(after, step.wait, spec.calendar, zone)
        unsubscribe = "https://example.com/unsubscribe/preview"
        context = context_for(lead, spec, step.id, team, unsubscribe, default_from)
        subject, rendered = _subject(step, renderer, context, first_subject)
        first_subject = first_subject or rendered
        timeline.append(
            PlannedTouch(
                step.id, "task" if step.task else "email", due, due.astimezone(zone), subject
            )
        )
        after = due
    return timeline


def _subject(
    step: StepSpec, renderer: Renderer, context: dict[str, Any], first: str
) -> tuple[str, str]:
    """(what the touch's line shows, the subject it sends with): the task's text, or the
    email's subject as it goes out; "" when nothing was sent."""
    try:
        if step.task:
            return f"task: {renderer.render_text(step.task, context)}", ""
        variant = step.variant_for(
            str(context["lead"].get("email", "")), context["sequence"]["name"]
        )
        template = step.template_for(variant.name if variant else None)
        subject = renderer.render_email(template, context).subject
    except RenderError as exc:
        return f"(render error: {exc})", ""
    sent = reply_subject(first) if step.thread and first else subject
    return (f"{sent} [variant {variant.name}]" if variant else sent), sent


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
