"""Manual task steps: the open list for owners, and skipping tasks not done within `due_within`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from models.compliance import ComplianceKind
from models.enrollment import Enrollment, EnrollmentStatus
from models.lead import Lead
from models.touch import Touch, TouchKind, TouchStatus
from worker.compliance import log
from worker.rendering import build_context
from worker.scheduling import plan_next_touch
from worker.team import TeamSpec
from worker.versions import VersionStore

SKIP_BATCH = 500


@dataclass(frozen=True)
class OpenTask:
    touch_id: int
    lead: str
    owner: str | None
    sequence: str
    step: str
    text: str
    due_at: datetime
    expires_at: datetime | None


def open_tasks(
    session: Session,
    *,
    versions: VersionStore,
    team: TeamSpec,
    owner: str | None = None,
    now: datetime,
) -> list[OpenTask]:
    """Tasks waiting for their owner, due first; the text is rendered for the lead."""
    query = (
        select(Touch, Enrollment, Lead)
        .join(Enrollment, col(Enrollment.id) == Touch.enrollment_id)
        .join(Lead, col(Lead.id) == Touch.lead_id)
        .where(Touch.status == TouchStatus.OPEN, Touch.kind == TouchKind.TASK)
        .order_by(col(Touch.due_at), col(Touch.id))
    )
    if owner:
        query = query.where(Enrollment.owner == owner.strip().lower())
    tasks = []
    for touch, enrollment, lead in session.exec(query).all():
        spec = versions.get(session, enrollment.version)
        step = spec.step(touch.step)
        context = build_context(
            lead=lead.template_context(),
            owner=team.owner(enrollment.owner),
            owner_email=enrollment.owner,
            sequence=spec,
            step=touch.step,
            unsubscribe_url="",
        )
        text = spec.renderer.render_text(step.task, context) if step and step.task else touch.step
        tasks.append(
            OpenTask(
                touch.id,  # type: ignore[arg-type]  # a stored row always has its id
                lead.email,
                enrollment.owner,
                enrollment.sequence,  # type: ignore[arg-type]
                touch.step,
                text,
                touch.due_at,
                touch.expires_at,
            )
        )
    return tasks


def skip_expired_tasks(session: Session, *, versions: VersionStore, now: datetime) -> int:
    """Tasks not done within `due_within` are skipped (logged) and the sequence moves on."""
    rows = session.exec(
        select(Touch, Enrollment, Lead)
        .join(Enrollment, col(Enrollment.id) == Touch.enrollment_id)
        .join(Lead, col(Lead.id) == Touch.lead_id)
        .where(Touch.status == TouchStatus.OPEN, col(Touch.expires_at) <= now)
        .limit(SKIP_BATCH)
    ).all()
    for touch, enrollment, lead in rows:
        touch.status, touch.detail = TouchStatus.SKIPPED, "not done within due_within"
        session.add(touch)
        log.append(
            session,
            ComplianceKind.TOUCH_SKIPPED,
            at=now,
            lead=lead.email,
            enrollment=enrollment,
            step=touch.step,
            touch_id=touch.id,
            detail=touch.detail,
        )
        if enrollment.status == EnrollmentStatus.ACTIVE:
            spec = versions.get(session, enrollment.version)
            plan_next_touch(
                session,
                enrollment=enrollment,
                lead=lead,
                spec=spec,
                completed_step=touch.step,
                at=now,
            )
    return len(rows)
