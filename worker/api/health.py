"""GET /healthz: 200 when the database and the broker answer, 503 when not. Anyone sees `ok` or
`unavailable`; the reasons (which name internal hosts and ports) need a valid API key."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from worker.api.auth import authenticate
from worker.api.deps import Rt
from worker.api.schemas import Health
from worker.engine.db import ping
from worker.engine.runtime import Runtime

router = APIRouter(tags=["health"])
PUBLIC_STATES = frozenset({"ok", "embedded"})


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "the database or Redis is down"}},
)
def healthz(rt: Rt, request: Request) -> JSONResponse:
    """Liveness and readiness for a load balancer; needs no key (a key adds the reasons)."""
    database = ping(rt.engine) or "ok"
    broker = rt.broker_health.check()[0] if rt.broker_health is not None else "embedded"
    ok = database == "ok" and broker in PUBLIC_STATES
    if not _shows_detail(rt, request.headers.get("authorization")):
        database, broker = _public(database), _public(broker)
    body = Health(status="ok" if ok else "unavailable", database=database, broker=broker)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


def _public(state: str) -> str:
    return state if state in PUBLIC_STATES else "unavailable"


def _shows_detail(rt: Runtime, authorization: str | None) -> bool:
    """Any live key may read the reasons; no key (or no database to check it in) may not."""
    if not authorization:
        return False
    try:
        return not isinstance(authenticate(rt, authorization), str)
    except SQLAlchemyError:
        return False
