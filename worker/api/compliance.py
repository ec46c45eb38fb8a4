"""GET /compliance/report and /compliance/log: the same JSON as the CLI's json / jsonl formats."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse

from models.compliance import ComplianceKind
from worker.api.auth import AUTH_RESPONSES, require_scope
from worker.api.deps import Rt, as_utc
from worker.api.gate import GatedRoute
from worker.api.schemas import LogEntryOut, ReportOut
from worker.compliance.export import entry_dict, report_json
from worker.compliance.log import LogFilter, query_log
from worker.compliance.report import build_report
from worker.engine.db import reading

router = APIRouter(
    route_class=GatedRoute,
    prefix="/compliance",
    tags=["compliance"],
    dependencies=[Depends(require_scope("compliance:read"))],
    responses=AUTH_RESPONSES,
)
Since = Annotated[datetime | None, Query(description="on or after: a date or an ISO time (UTC)")]
Until = Annotated[datetime | None, Query(description="before: a date or an ISO time (UTC)")]


@router.get("/report", response_model=ReportOut)
def report(
    rt: Rt,
    since: Since = None,
    until: Until = None,
    by: Literal["owner", "sequence", "day", "week", "month"] = "owner",
) -> Response:
    """SLA counts per group (SPEC section 11), enrollments by their enrollment time."""
    start, end = as_utc(since, ("query", "since")), as_utc(until, ("query", "until"))
    with reading(rt.engine) as session:
        result = build_report(
            session, by=by, since=start, until=end, team=rt.catalog.team, now=rt.clock.now()
        )
    return Response(report_json(result), media_type="application/json")


@router.get("/log", response_model=list[LogEntryOut])
def log(
    rt: Rt,
    since: Since = None,
    until: Until = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
    owner: Annotated[str | None, Query(max_length=320)] = None,
    sequence: Annotated[str | None, Query(max_length=200)] = None,
    kind: ComplianceKind | None = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> JSONResponse:
    """The append-only compliance log, oldest first."""
    where = LogFilter(
        email=email,
        owner=owner,
        sequence=sequence,
        kind=kind,
        limit=limit,
        since=as_utc(since, ("query", "since")),
        until=as_utc(until, ("query", "until")),
    )
    with reading(rt.engine) as session:
        return JSONResponse([entry_dict(entry) for entry in query_log(session, where)])
