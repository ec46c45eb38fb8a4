"""The API key, its scope and its write budget, checked from the request line and headers alone:
an unauthenticated 44 MB upload gets its 401 before one byte of it is received or parsed.

An ASGI middleware because FastAPI reads and parses the body before it runs any dependency.
Which routes need what comes from their own dependencies (auth.REQUIREMENTS), so a route added
anywhere with `require_scope(...)` is gated without being listed here.
"""

from __future__ import annotations

import math

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from worker.api.auth import (
    REQUIREMENTS,
    STATE_KEY,
    Requirement,
    authenticate,
    forbidden,
    unauthorized,
)
from worker.api.errors import database_unavailable
from worker.api.rate_limit import WriteBudget
from worker.engine.runtime import Runtime

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ApiKeyGate:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._requirements: dict[int, Requirement | None] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        application: FastAPI = scope["app"]
        requirement = self._requirement(application, scope)
        request = Request(scope)  # no `receive`: nothing here can read the body
        if requirement is None or (requirement.link_token and "token" in request.query_params):
            await self.app(scope, receive, send)  # public, or a dashboard link checked there
            return
        refusal = await self._refusal(application, request, requirement)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _refusal(
        self, application: FastAPI, request: Request, requirement: Requirement
    ) -> JSONResponse | None:
        """401, 403, 429 or 503 for this request; None lets it through (key kept in state)."""
        rt: Runtime = application.state.runtime
        try:
            found = await run_in_threadpool(authenticate, rt, request.headers.get("authorization"))
        except (OperationalError, PoolTimeout) as exc:
            return await database_unavailable(request, exc)
        if isinstance(found, str):
            return _problem(unauthorized(found))
        if not found.allows(requirement.scope):
            return _problem(forbidden(found, requirement.scope))
        if request.method not in READ_METHODS:
            wait = _budget(application, rt).take(found.name)
            if wait is not None:
                seconds = max(1, math.ceil(wait))
                return JSONResponse(
                    {"detail": f"API key {found.name!r} is over its write rate; retry later"},
                    status_code=429,
                    headers={"Retry-After": str(seconds)},
                )
        setattr(request.state, STATE_KEY, found)
        return None

    def _requirement(self, application: FastAPI, scope: Scope) -> Requirement | None:
        """The requirement of the route this request will reach (None: public, or no route)."""
        for route in application.router.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                key = id(route)
                if key not in self._requirements:
                    self._requirements[key] = _declared(route)
                return self._requirements[key]
        return None


def _declared(route: BaseRoute) -> Requirement | None:
    """The scope a route's dependencies (its router's and the app's included) ask for."""
    dependant = getattr(route, "dependant", None)
    pending = [dependant] if dependant is not None else []
    while pending:
        current = pending.pop()
        requirement = REQUIREMENTS.get(current.call) if current.call else None
        if requirement is not None:
            return requirement
        pending.extend(current.dependencies)
    return None


def _budget(application: FastAPI, rt: Runtime) -> WriteBudget:
    """One budget per application (per process); tests may install their own first."""
    budget = getattr(application.state, "write_budget", None)
    if not isinstance(budget, WriteBudget):
        budget = WriteBudget(rt.settings.api_rate_limit)
        application.state.write_budget = budget
    return budget


def _problem(exc: HTTPException) -> JSONResponse:
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
