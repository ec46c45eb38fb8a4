"""GET /healthz: 200 when the database and the broker answer, 503 (with the reason) when not."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from worker.api.deps import Rt
from worker.api.schemas import Health
from worker.engine.db import ping

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "the database or Redis is down"}},
)
def healthz(rt: Rt) -> JSONResponse:
    """Liveness and readiness for a load balancer; needs no API key."""
    database = ping(rt.engine) or "ok"
    broker = rt.broker_health.check()[0] if rt.broker_health is not None else "embedded"
    ok = database == "ok" and broker in ("ok", "embedded")
    body = Health(status="ok" if ok else "unavailable", database=database, broker=broker)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
