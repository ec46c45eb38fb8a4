"""`create_app(rt)`: the FastAPI application, its routes, limits and error handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import dramatiq
from fastapi import Depends, FastAPI

from worker import __version__
from worker.api import (
    compliance,
    enrollments,
    events,
    health,
    leads,
    metrics,
    provider_webhooks,
    sequences,
    tasks,
    unsubscribe,
)
from worker.api.dashboard import router as dashboard_router
from worker.api.deps import no_nul_in_url
from worker.api.errors import install_error_handlers
from worker.engine.event_applier import EventApplier
from worker.engine.runtime import Runtime

MAX_BODY_BYTES = 1024 * 1024  # JSON bodies; the CSV upload route allows more


def create_app(
    rt: Runtime, *, process_inline: bool = False, broker: dramatiq.Broker | None = None
) -> FastAPI:
    """`process_inline`: no worker shares this process, so accepted events are applied here,
    by an EventApplier that lives as long as the served app (its lifespan).
    `broker`: the in-process one, whose queue figures /metrics reports (Redis: its own link)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not process_inline:
            yield
            return
        applier = EventApplier(app.state.runtime)
        applier.start()
        app.state.event_applier = applier
        try:
            yield
        finally:
            app.state.event_applier = None
            applier.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="followup",
        version=__version__,
        max_body_size=MAX_BODY_BYTES,
        description="Lead events, enrollments, CSV imports and SLA compliance (SPEC section 10).",
        dependencies=[Depends(no_nul_in_url)],
        responses={
            413: {
                "description": "the body is over 1 MiB (CSV uploads: 50 MiB)",
                "content": {"text/plain": {}, "application/json": {}},
            }
        },
    )
    app.state.runtime = rt
    app.state.event_applier = None  # set while served in process_inline mode (lifespan)
    app.state.broker = broker
    routes = (
        events,
        leads,
        enrollments,
        sequences,
        tasks,
        compliance,
        health,
        metrics,
        unsubscribe,
    )
    for module in routes:
        app.include_router(module.router)
    app.include_router(provider_webhooks.router)
    app.include_router(dashboard_router)
    install_error_handlers(app)
    return app
