"""Every way a request can be wrong gets a 4xx that says what and where; nothing becomes a 500."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from worker.api.deps import plain
from worker.specs.validation_errors import describe, error_message

log = logging.getLogger("followup.api")


def _error_item(error: Any) -> dict[str, Any]:
    loc = [plain(part) for part in error.get("loc", ())]
    message = plain(error_message(error))
    return {"loc": loc, "msg": message, "type": str(error.get("type", "value_error"))}


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """422 with each field and reason, plus one line for people; never echoes the input back."""
    assert isinstance(exc, RequestValidationError)
    items = [_error_item(e) for e in exc.errors()]
    message = "; ".join(describe(item) for item in items)
    return JSONResponse({"detail": items, "message": message}, status_code=422)


async def http_error(_request: Request, exc: Exception) -> JSONResponse:
    """Body parsing failures (bad JSON text, bad multipart, bad encoding) are invalid input: 422."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400:
        reason = f"the request body could not be read: {plain(exc.detail)}"
        item = {"loc": ["body"], "msg": reason, "type": "body_unreadable"}
        return JSONResponse({"detail": [item], "message": f"body: {reason}"}, status_code=422)
    return JSONResponse(
        {"detail": plain(exc.detail)}, status_code=exc.status_code, headers=exc.headers
    )


async def database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    """The database did not answer (down, locked too long, pool exhausted): retry later."""
    log.warning("database unavailable: %s", str(exc).splitlines()[0])
    return JSONResponse(
        {"detail": "the database is unavailable; retry later"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(OperationalError, database_unavailable)
    app.add_exception_handler(PoolTimeout, database_unavailable)
