"""POST /enrollments (enroll a lead by hand) and POST /enrollments/{id}/stop."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path
from sqlmodel import select

from models.enrollment import Enrollment
from models.lead import Lead
from worker.api.auth import AUTH_RESPONSES, require_api_key
from worker.api.deps import Rt, invalid
from worker.api.schemas import EnrollmentIn, EnrollmentPublic, Problem
from worker.engine.db import transaction
from worker.flow.enrollment import OPEN_STATUSES, enroll, exit_enrollment

MAX_ID = 2**63 - 1
router = APIRouter(
    tags=["enrollments"], dependencies=[Depends(require_api_key)], responses=AUTH_RESPONSES
)


@router.post(
    "/enrollments",
    response_model=EnrollmentPublic,
    status_code=201,
    responses={
        404: {"model": Problem, "description": "no such lead"},
        409: {"model": Problem, "description": "already enrolled, or the address is suppressed"},
    },
)
def start(body: EnrollmentIn, rt: Rt) -> EnrollmentPublic:
    """Enroll a stored lead in a sequence now, as its trigger event would."""
    spec = rt.catalog.sequences.get(body.sequence)
    if spec is None:
        known = ", ".join(rt.catalog.sequences) or "none"
        raise invalid(("body", "sequence"), f"no sequence named {body.sequence!r} (known: {known})")
    now = rt.clock.now()
    with transaction(rt.engine) as session:
        lead = session.exec(select(Lead).where(Lead.email == body.email)).first()
        if lead is None:
            raise HTTPException(404, f"no lead with email {body.email!r}")
        why_not = enroll(
            session, lead, spec, versions=rt.versions, team=rt.catalog.team, at=now, now=now
        )
        if why_not is not None:
            raise HTTPException(409, why_not)
        enrollment = session.exec(
            select(Enrollment).where(
                Enrollment.lead_id == lead.id, Enrollment.sequence == spec.name
            )
        ).one()
        return EnrollmentPublic.model_validate(enrollment)


@router.post(
    "/enrollments/{enrollment_id}/stop",
    response_model=EnrollmentPublic,
    responses={
        404: {"model": Problem, "description": "no such enrollment"},
    },
)
def stop(enrollment_id: Annotated[int, Path(ge=1, le=MAX_ID)], rt: Rt) -> EnrollmentPublic:
    """End an enrollment now (reason `stopped`); one that already ended is returned unchanged."""
    now = rt.clock.now()
    with transaction(rt.engine) as session:
        enrollment = session.get(Enrollment, enrollment_id)
        if enrollment is None:
            raise HTTPException(404, f"no enrollment {enrollment_id}")
        if enrollment.status in OPEN_STATUSES:
            lead = session.get(Lead, enrollment.lead_id)
            assert lead is not None
            exit_enrollment(session, enrollment, lead, reason="stopped", at=now, now=now)
        return EnrollmentPublic.model_validate(enrollment)
