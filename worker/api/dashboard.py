"""GET /compliance: the HTML dashboard, for an API key or a signed read-only link."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials

from worker.api.auth import AUTH_RESPONSES, REQUIREMENTS, Requirement, bearer, check_key
from worker.api.deps import Rt, as_utc
from worker.api.gate import GatedRoute
from worker.compliance.dashboard import dashboard_html
from worker.compliance.dashboard_link import token_valid
from worker.engine.db import reading

SCOPE = "compliance:read"

PAGE_HEADERS = {
    "Cache-Control": "private, no-store",
    "Referrer-Policy": "no-referrer",  # the link's token must not leak to other sites
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
}


def dashboard_access(
    request: Request,
    rt: Rt,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    token: Annotated[
        str | None,
        Query(
            max_length=200,
            description=("a signed read-only link token from `followup compliance link`"),
        ),
    ] = None,
) -> None:
    """A valid, unexpired, unrevoked dashboard link, else an API key allowing compliance:read."""
    if token is not None:
        with reading(rt.engine) as session:
            valid = token_valid(session, token, keys=rt.key_ring, now=rt.clock.now())
        if valid:
            return
        raise HTTPException(
            status_code=401,
            detail=(
                "this dashboard link is invalid, expired or revoked; make a new one with "
                "`followup compliance link`"
            ),
        )
    check_key(request, rt, SCOPE)


REQUIREMENTS[dashboard_access] = Requirement(SCOPE, link_token=True)


def make_router() -> APIRouter:
    """The dashboard route, on its own so the JSON routes keep their API-key-only rule."""
    router = APIRouter(tags=["compliance"], responses=AUTH_RESPONSES, route_class=GatedRoute)

    @router.get(
        "/compliance", response_class=HTMLResponse, dependencies=[Depends(dashboard_access)]
    )
    def dashboard(
        rt: Rt,
        since: Annotated[datetime | None, Query(description="enrolled on or after (UTC)")] = None,
        until: Annotated[datetime | None, Query(description="enrolled before (UTC)")] = None,
    ) -> HTMLResponse:
        """Compliance per owner, weekly trend, breaches with their leads, first-touch times."""
        with reading(rt.engine) as session:
            page = dashboard_html(
                session,
                team=rt.catalog.team,
                since=as_utc(since, ("query", "since")),
                until=as_utc(until, ("query", "until")),
                now=rt.clock.now(),
                sequences=rt.catalog.sequences.values(),
                versions=rt.versions,
            )
        return HTMLResponse(page, headers=PAGE_HEADERS)

    return router


router = make_router()
