"""GET /metrics: followup's figures in the Prometheus text format (a key, like every route)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from worker.api.auth import AUTH_RESPONSES, require_api_key
from worker.api.deps import Rt
from worker.engine.metrics_state import exposition_registry, state_collector
from worker.engine.runtime import Runtime

router = APIRouter(tags=["health"], responses=AUTH_RESPONSES)


@router.get(
    "/metrics",
    dependencies=[Depends(require_api_key)],
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "the exposition"}},
)
def metrics(request: Request, rt: Rt) -> Response:
    """Counters of this process and database/broker gauges read now (Prometheus scrapes it)."""
    return Response(
        generate_latest(_registry(request.app.state, rt)), media_type=CONTENT_TYPE_LATEST
    )


def _registry(state: Any, rt: Runtime) -> CollectorRegistry:
    """Built on the first scrape (one Redis link for the figures), for this app's runtime."""
    built: tuple[Runtime, CollectorRegistry] | None = getattr(state, "metrics", None)
    if built is None or built[0] is not rt:
        built = (rt, exposition_registry(state_collector(rt, state.broker)))
        state.metrics = built
    return built[1]
