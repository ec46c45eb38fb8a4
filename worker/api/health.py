"""GET /healthz (the process answers: it touches nothing) and GET /readyz (it can work: database
at head, broker, sequences). Both need no key; /readyz gives its reasons only to a key holder."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

from worker.api.deps import Rt
from worker.api.schemas import Health, Readiness
from worker.engine.readiness import check_readiness, may_see_detail

router = APIRouter(tags=["health"])
PUBLIC_STATES = frozenset({"ok", "embedded"})


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """Liveness: the process is up and serving; no database, broker or file is touched."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    response_model_exclude_none=True,
    responses={503: {"model": Readiness, "description": "a check failed"}},
)
def readyz(
    rt: Rt, authorization: Annotated[str | None, Header(include_in_schema=False)] = None
) -> JSONResponse:
    """Readiness for a load balancer: `checks` (the reasons) only with a valid API key."""
    readiness = check_readiness(rt)
    body = readiness.body(detail=may_see_detail(rt.engine, authorization))
    return JSONResponse(body, status_code=200 if readiness.ok else 503)
