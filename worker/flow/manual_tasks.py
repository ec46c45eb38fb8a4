"""Manual touches: open task steps, their completion and expiry, and touches logged by reps."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field
from pydantic.dataclasses import dataclass
from sqlmodel import Session, col

from models.compliance import ComplianceKind
from models.enrollment import Enrollment, worked_by
from models.lead import Lead
from models.touch import Touch, TouchKind, TouchStatus
from worker.compliance import log
from worker.compliance.recording import note_touch_completed, refresh_verdict
from worker.engine.runtime import Runtime
from worker.engine.tunables import SKIP_BATCH
from worker.flow.scheduling import finish_step
from worker.flow.touch_rows import TouchRow, touch_rows
from worker.specs.rendering import RenderError, build_context
from worker.specs.sending import lead_owner_context
from worker.specs.versions import VersionStore


@dataclass(frozen=True)
class OpenTask:
    """A task waiting for its owner; as JSON its lead's email is `lead`, as in the log."""

    touch_id: int
    lead_email: Annotated[str, Field(serialization_alias="lead")]
    owner: str | None
    sequence: str
    step: str
    text: str  # rendered for the lead; the raw task text when it cannot be
    due_at: datetime
    expires_at: datetime | None
    render_error: str | None = None  # why `text` is the raw task text


def open_tasks(session: Session, rt: Runtime, *, owner: str | None = None) -> list[OpenTask]:
    """Tasks waiting for their owner, due first; each text rendered for its own lead, so one
    lead's missing field shows on its own task (raw text and reason), not on everyone's list."""
    query = (
        touch_rows()
        .where(Touch.status == TouchStatus.OPEN, Touch.kind == TouchKind.TASK)
        .order_by(col(Touch.due_at), col(Touch.id))
    )
    if owner:
        query = query.where(worked_by(owner.strip().lower()))
    tasks = []
    for touch, enrollment, lead in session.exec(query).all():
        text, problem = _task_text(session, (touch, enrollment, lead), rt)
        tasks.append(
            OpenTask(
                touch.id,  # type: ignore[arg-type]  # a stored row always has its id
                lead.email,
                enrollment.current_owner,
                enrollment.sequence,
                touch.step,
                text,
                touch.due_at,
                touch.expires_at,
                problem,
            )
        )
    return tasks


def _task_text(session: Session, row: TouchRow, rt: Runtime) -> tuple[str, str | None]:
    """(the step's task text rendered for the lead, None), or (the raw text, why it does not
    render for this lead); with the version the enrollment pinned."""
    touch, enrollment, lead = row
    spec = rt.versions.get(session, enrollment.version)
    step = spec.step(touch.step)
    if step is None or not step.task:
        return touch.step, None
    owner = lead_owner_context(
        spec,
        enrollment.current_owner,
        team=rt.catalog.team,
        default_from=rt.settings.default_from,
    )
    context = build_context(
        lead=lead.template_context(),
        owner=owner,
        sequence=spec,
        step=touch.step,
        unsubscribe_url="",
    )
    try:
        return spec.renderer.render_text(step.task, context), None
    except RenderError as exc:
        return step.task, str(exc)


def skip_expired_tasks(session: Session, *, versions: VersionStore, now: datetime) -> int:
    """Tasks not done within `due_within` are skipped (logged) and the sequence moves on."""
    rows = session.exec(
        touch_rows()
        .where(Touch.status == TouchStatus.OPEN, col(Touch.expires_at) <= now)
        .limit(SKIP_BATCH)
    ).all()
    for touch, enrollment, lead in rows:
        touch.status, touch.detail = TouchStatus.SKIPPED, "not done within due_within"
        session.add(touch)
        spec = versions.get(session, enrollment.version)
        finish_step(
            session,
            touch=touch,
            enrollment=enrollment,
            lead=lead,
            spec=spec,
            kind=ComplianceKind.TOUCH_SKIPPED,
            at=now,
            now=now,
            detail=touch.detail,
        )
    return len(rows)


def complete_task(
    session: Session,
    lead: Lead,
    *,
    step: str | None,
    sequence: str | None,
    at: datetime,
    versions: VersionStore,
    now: datetime,
) -> int:
    """Mark the lead's open task for `step` done; it counts as a touch and the next wait starts."""
    query = touch_rows().where(
        Touch.lead_id == lead.id, Touch.status == TouchStatus.OPEN, Touch.kind == TouchKind.TASK
    )
    if step:
        query = query.where(Touch.step == step)
    if sequence:
        query = query.where(Enrollment.sequence == sequence)
    done = 0
    for touch, enrollment, _lead in session.exec(query).all():
        touch.status, touch.completed_at = TouchStatus.DONE, at
        session.add(touch)
        spec = versions.get(session, enrollment.version)
        finish_step(
            session,
            touch=touch,
            enrollment=enrollment,
            lead=lead,
            spec=spec,
            kind=ComplianceKind.TASK_COMPLETED,
            at=at,
            now=now,
            completed=True,
            manual=True,
        )
        done += 1
    return done


def log_manual_touch(
    session: Session,
    lead: Lead,
    enrollments: list[Enrollment],
    *,
    detail: str | None,
    at: datetime,
    now: datetime,
) -> None:
    """A call or email outside any sequence: counted toward each open SLA of the lead."""
    if not enrollments:  # on record even though it counts toward no SLA
        log.append(
            session,
            ComplianceKind.TOUCH_LOGGED,
            at=at,
            lead_email=lead.email,
            owner=lead.owner,
            detail=detail,
        )
    for enrollment in enrollments:
        _count_toward(session, lead, enrollment, detail=detail, at=at, now=now)


def _count_toward(
    session: Session,
    lead: Lead,
    enrollment: Enrollment,
    *,
    detail: str | None,
    at: datetime,
    now: datetime,
) -> None:
    """A done touch row in the enrollment, counted, and one log entry for it, so the log alone
    can rebuild the counts."""
    touch = Touch(
        enrollment_id=enrollment.id,
        lead_id=lead.id,  # type: ignore[arg-type]  # the lead was flushed: it has its id
        sequence=enrollment.sequence,
        step="manual",
        kind=TouchKind.LOGGED,
        status=TouchStatus.DONE,
        due_at=at,
        completed_at=at,
        detail=detail,
    )
    session.add(touch)
    note_touch_completed(enrollment, at, manual=True)
    session.flush()
    log.append(
        session,
        ComplianceKind.TOUCH_LOGGED,
        at=at,
        lead_email=lead.email,
        enrollment=enrollment,
        step="manual",
        touch_id=touch.id,
        detail=detail,
    )
    refresh_verdict(session, enrollment, lead.email, now)
    session.add(enrollment)
