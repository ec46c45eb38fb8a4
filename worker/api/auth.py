"""`Authorization: Bearer <key>` on every route but /healthz, /readyz and /unsubscribe: 401
without a live key, 403 when the key lacks the route's scope. The gate (gate.py) runs these
same checks from the headers alone, before any byte of the body is read; the dependencies keep
them true for anything that reaches a route another way, and document them in OpenAPI."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from worker.api.deps import Rt
from worker.api.schemas import Problem
from worker.auth.apikeys import ADMIN, LIVE_KEYS, KeyHolder, hash_key, verify_key
from worker.engine.db import reading
from worker.engine.runtime import Runtime

STATE_KEY = "api_key"  # request.state.api_key: the KeyHolder the gate let through
bearer = HTTPBearer(auto_error=False, description="a key from `followup apikey create NAME`")
AUTH_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"model": Problem, "description": "missing, unknown or revoked API key"},
    403: {"model": Problem, "description": "the API key lacks this route's scope"},
    429: {"model": Problem, "description": "this key's write budget is spent; see Retry-After"},
}


@dataclass(frozen=True, slots=True)
class Requirement:
    """What a route's dependency asks of the caller, read by the gate before the body."""

    scope: str
    link_token: bool = False  # a signed dashboard link (?token=) may stand in for the key


REQUIREMENTS: dict[Callable[..., object], Requirement] = {}


def authenticate(rt: Runtime, authorization: str | None) -> KeyHolder | str:
    """The live key in an Authorization header, or why there is none (one indexed lookup, or
    none for a key found live within API_KEY_CACHE)."""
    known = known_key(rt, authorization)
    if known is not None:
        return known
    key = _bearer_key(authorization) or ""
    with reading(rt.engine) as session:
        holder = verify_key(session, key)
    if holder is None:
        return UNKNOWN_KEY
    LIVE_KEYS.put(rt.settings.database_url, hash_key(key), holder)
    return holder


def known_key(rt: Runtime, authorization: str | None) -> KeyHolder | str | None:
    """authenticate's answer when it needs no database (a malformed header, a key found live
    lately), else None: the gate then looks the key up off the event loop."""
    key = _bearer_key(authorization)
    if key is None:
        return MISSING_KEY
    return LIVE_KEYS.get(rt.settings.database_url, hash_key(key))


MISSING_KEY = "missing API key: send `Authorization: Bearer <key>`"
UNKNOWN_KEY = "unknown or revoked API key"


def _bearer_key(authorization: str | None) -> str | None:
    scheme, _, key = (authorization or "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" and key.strip() else None


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def forbidden(holder: KeyHolder, scope: str) -> HTTPException:
    return HTTPException(
        status_code=403,
        detail=f"API key {holder.name!r} lacks the {scope} scope (see `followup apikey list`)",
        headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
    )


def check_key(request: Request, rt: Runtime, scope: str) -> KeyHolder:
    """The caller's key (the one the gate let through, else looked up), allowing `scope`."""
    holder = getattr(request.state, STATE_KEY, None)
    if not isinstance(holder, KeyHolder):
        found = authenticate(rt, request.headers.get("authorization"))
        if isinstance(found, str):
            raise unauthorized(found)
        holder = found
    if not holder.allows(scope):
        raise forbidden(holder, scope)
    return holder


def require_scope(scope: str) -> Callable[..., Awaitable[KeyHolder]]:
    """A dependency: the caller's key, which must allow `scope` (admin allows everything)."""

    async def dependency(  # async: the gate's key needs no thread hand-off
        request: Request,
        rt: Rt,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> KeyHolder:
        if isinstance(getattr(request.state, STATE_KEY, None), KeyHolder):
            return check_key(request, rt, scope)
        return await run_in_threadpool(check_key, request, rt, scope)  # may read the database

    REQUIREMENTS[dependency] = Requirement(scope)
    return dependency


# Routes that name no narrower scope are for admin keys only (deny by default).
require_api_key = require_scope(ADMIN)
