"""POST /enrollments (enroll a lead by hand) and POST /enrollments/{id}/stop."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path
from sqlmodel import select

from models.enrollment import OPEN_STATUSES, Enrollment
from models.lead import Lead
from worker.api.auth import AUTH_RESPONSES, require_scope
from worker.api.deps import Rt, invalid
from worker.api.gate import GatedRoute
from worker.api.schemas import EnrollmentIn, EnrollmentPublic, Problem
from worker.engine.db import transaction
from worker.flow.enrollment import Refusal, enroll, exit_enrollment
from worker.specs.catalog import UnknownSequence

MAX_ID = 2**63 - 1
router = APIRouter(
    route_class=GatedRoute,
    tags=["enrollments"],
    dependencies=[Depends(require_scope("leads:write"))],
    responses=AUTH_RESPONSES,
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
    try:
        spec = rt.catalog.sequence(body.sequence)
    except UnknownSequence as exc:
        raise invalid(("body", "sequence"), str(exc)) from None
    now = rt.clock.now()
    with transaction(rt.engine) as session:
        lead = session.exec(select(Lead).where(Lead.email == body.email)).first()
        if lead is None:
            raise HTTPException(404, f"no lead with email {body.email!r}")
        result = enroll(
            session, lead, spec, versions=rt.versions, team=rt.catalog.team, at=now, now=now
        )
        if isinstance(result, Refusal):
            raise HTTPException(409, result.message)
        return EnrollmentPublic.model_validate(session.get(Enrollment, result.id))


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
