"""The API key, its scope and its write budget, checked from the request line and headers alone:
an unauthenticated 44 MB upload gets its 401 before one byte of it is received or parsed.

FastAPI reads and parses a body before it runs any dependency, so the routers' routes are
GatedRoutes (FastAPI's documented APIRoute extension point): the handler it builds looks at
the route's own dependencies (auth.REQUIREMENTS) and refuses before FastAPI's handler starts.
A router made with `route_class=GatedRoute` and `require_scope(...)` is gated, listed nowhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from worker.api.auth import (
    REQUIREMENTS,
    STATE_KEY,
    Requirement,
    authenticate,
    forbidden,
    known_key,
    unauthorized,
)
from worker.api.errors import database_unavailable
from worker.api.rate_limit import WriteBudget
from worker.engine.runtime import Runtime

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class GatedRoute(APIRoute):
    """An APIRoute that checks its key requirement before FastAPI's handler reads the body."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        requirement = declared(self.dependant)
        if requirement is None:
            return handler

        async def gated(request: Request) -> Response:
            refusal = await refusal_for(request, requirement)
            return refusal if refusal is not None else await handler(request)

        return gated


def declared(dependant: Dependant) -> Requirement | None:
    """The scope a route's dependencies (its router's included) ask for."""
    pending = [dependant]
    while pending:
        current = pending.pop()
        requirement = REQUIREMENTS.get(current.call) if current.call else None
        if requirement is not None:
            return requirement
        pending.extend(current.dependencies)
    return None


async def refusal_for(request: Request, requirement: Requirement) -> Response | None:
    """401, 403, 429 or 503 for this request; None lets it through (its key kept in state)."""
    if requirement.link_token and "token" in request.query_params:
        return None  # a signed dashboard link: its own dependency checks it
    rt: Runtime = request.app.state.runtime
    header = request.headers.get("authorization")
    found = known_key(rt, header)  # a key seen live lately needs no thread hand-off
    if found is None:
        try:
            found = await run_in_threadpool(authenticate, rt, header)
        except (OperationalError, PoolTimeout) as exc:
            return await database_unavailable(request, exc)
    if isinstance(found, str):
        return _problem(unauthorized(found))
    if not found.allows(requirement.scope):
        return _problem(forbidden(found, requirement.scope))
    if request.method not in READ_METHODS:
        wait = _budget(request, rt).take(found.name)
        if wait is not None:
            return JSONResponse(
                {"detail": f"API key {found.name!r} is over its write rate; retry later"},
                status_code=429,
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
    setattr(request.state, STATE_KEY, found)
    return None


def _budget(request: Request, rt: Runtime) -> WriteBudget:
    """One budget per application (per process); tests may install their own first."""
    state = request.app.state
    budget = getattr(state, "write_budget", None)
    if not isinstance(budget, WriteBudget):
        budget = WriteBudget(rt.settings.api_rate_limit)
        state.write_budget = budget
    return budget


def _problem(exc: HTTPException) -> JSONResponse:
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
