"""`Authorization: Bearer <key>` on every route but /healthz, /readyz and /unsubscribe; else 401."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from worker.api.deps import Rt
from worker.api.schemas import Problem
from worker.auth.apikeys import verify_key
from worker.engine.db import reading

bearer = HTTPBearer(auto_error=False, description="a key from `followup apikey create NAME`")
AUTH_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"model": Problem, "description": "missing, unknown or revoked API key"},
}


def require_api_key(
    rt: Rt, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> str:
    """The key's name; one indexed lookup of the key's hash per request."""
    if credentials is None:
        raise _unauthorized("missing API key: send `Authorization: Bearer <key>`")
    with reading(rt.engine) as session:
        name = verify_key(session, credentials.credentials)
    if name is None:
        raise _unauthorized("unknown or revoked API key")
    return name


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})
