"""GET /compliance: the HTML dashboard, for an API key or a signed read-only link."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials

from worker.api.auth import AUTH_RESPONSES, bearer, require_api_key
from worker.api.deps import Rt, as_utc
from worker.compliance.dashboard import dashboard_html
from worker.compliance.dashboard_link import token_valid
from worker.engine.db import reading

PAGE_HEADERS = {
    "Cache-Control": "private, no-store",
    "Referrer-Policy": "no-referrer",  # the link's token must not leak to other sites
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
}


def dashboard_access(
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
    """A valid, unexpired dashboard token, else the usual API key."""
    if token is not None:
        secret = rt.settings.secret_key
        if secret and token_valid(token, secret=secret, now=rt.clock.now()):
            return
        raise HTTPException(
            status_code=401,
            detail=(
                "this dashboard link is invalid or has expired; make a new one with "
                "`followup compliance link`"
            ),
        )
    require_api_key(rt, credentials)


def make_router() -> APIRouter:
    """The dashboard route, on its own so the JSON routes keep their API-key-only rule."""
    router = APIRouter(tags=["compliance"], responses=AUTH_RESPONSES)

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
