"""POST /leads (upsert), GET /leads/{email} (with enrollments and touches), POST /leads/import."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Path, Response, UploadFile
from sqlmodel import col, select

from models.enrollment import Enrollment
from models.lead import Lead
from models.touch import Touch
from models.validation import FieldsTooLarge, normalise_email
from worker.api.auth import AUTH_RESPONSES, require_scope
from worker.api.deps import Rt, invalid, plain
from worker.api.gate import GatedRoute
from worker.api.schemas import (
    ImportReport,
    LeadBody,
    LeadDetail,
    LeadPublic,
    Problem,
    RejectedRowOut,
)
from worker.engine.db import reading, transaction
from worker.flow.leads import upsert_lead
from worker.imports.csv_import import (
    CsvImportError,
    CsvSource,
    ImportOptions,
    RejectedRow,
    import_rows,
)

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
REJECTS_SHOWN = 1000
router = APIRouter(tags=["leads"], responses=AUTH_RESPONSES, route_class=GatedRoute)
READ = [Depends(require_scope("leads:read"))]
WRITE = [Depends(require_scope("leads:write"))]


@router.post(
    "/leads",
    dependencies=WRITE,
    response_model=LeadPublic,
    status_code=200,
    responses={201: {"model": LeadPublic, "description": "created"}},
)
def upsert(lead: LeadBody, rt: Rt, response: Response) -> LeadPublic:
    """Create or update a lead by email; 201 when it is new."""
    with transaction(rt.engine) as session:
        try:
            row, created = upsert_lead(session, lead, now=rt.clock.now())
        except FieldsTooLarge as exc:
            raise invalid(("body", "fields"), str(exc)) from None
        body = LeadPublic.model_validate(row)
    response.status_code = 201 if created else 200
    return body


@router.get(
    "/leads/{email}",
    dependencies=READ,
    response_model=LeadDetail,
    responses={404: {"model": Problem, "description": "no such lead"}},
)
def read(email: Annotated[str, Path(max_length=320)], rt: Rt) -> LeadDetail:
    """The lead, its enrollments and every touch with its status."""
    try:
        address = normalise_email(email)
    except ValueError as exc:
        raise invalid(("path", "email"), str(exc)) from None
    with reading(rt.engine) as session:
        lead = session.exec(select(Lead).where(Lead.email == address)).first()
        if lead is None:
            raise HTTPException(404, f"no lead with email {address!r}")
        enrollments = session.exec(
            select(Enrollment).where(Enrollment.lead_id == lead.id).order_by(col(Enrollment.id))
        )
        touches = session.exec(
            select(Touch).where(Touch.lead_id == lead.id).order_by(col(Touch.id))
        )
        return LeadDetail.model_validate(
            {"lead": lead, "enrollments": list(enrollments), "touches": list(touches)},
            from_attributes=True,
        )


@router.post(
    "/leads/import",
    dependencies=WRITE,
    response_model=ImportReport,
    max_body_size=MAX_UPLOAD_BYTES,
)
def import_csv(
    rt: Rt,
    file: Annotated[UploadFile, File(description="CSV, UTF-8, comma or semicolon")],
    event: Annotated[str | None, Form(max_length=100, description="e.g. lead.mql")] = None,
    sequence: Annotated[str | None, Form(max_length=200)] = None,
    dry_run: Annotated[bool, Form()] = False,
) -> ImportReport:
    """The same import, counts and rejected lines as `followup leads import`."""
    rejects: list[RejectedRowOut] = []

    def keep(row: RejectedRow) -> None:
        if len(rejects) < REJECTS_SHOWN:
            rejects.append(
                RejectedRowOut(line=row.line, email=plain(row.email), reason=plain(row.reason))
            )

    options = ImportOptions(event=event or None, sequence=sequence or None, dry_run=dry_run)
    try:
        summary = import_rows(rt, CsvSource(file.file), options, on_reject=keep)
    except CsvImportError as exc:
        raise invalid(("body", exc.field), str(exc)) from None
    return ImportReport.of(summary, rejects)
