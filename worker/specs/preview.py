"""The timeline a lead would get, computed by the same planning code the scheduler uses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from worker.specs.calendar import plan_due
from worker.specs.rendering import Renderer, RenderError, build_context, reply_subject
from worker.specs.senders import lead_owner_context
from worker.specs.sequences import SequenceSpec
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
    default_from: str | None = None,
) -> list[PlannedTouch]:
    """Each step due after the previous one, assuming every touch completes when due."""
    zone = spec.zone_for(lead.get("timezone"))
    timeline: list[PlannedTouch] = []
    after = start
    first_subject = ""
    owner = lead_owner_context(spec, lead.get("owner"), team=team, default_from=default_from)
    for step in spec.steps:
        due = plan_due(after, step.wait, spec.calendar, zone)
        context = build_context(
            lead=lead,
            owner=owner,
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
                if step.thread and first_subject:
                    subject = reply_subject(first_subject)
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
