"""What every route may ask for: the process's Runtime, and checks on raw input."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError

from worker.engine.runtime import Runtime


async def runtime_of(request: Request) -> Runtime:
    """Async on purpose, like every dependency without I/O: no hop through the threadpool."""
    runtime: Runtime = request.app.state.runtime  # set by create_app
    return runtime


Rt = Annotated[Runtime, Depends(runtime_of)]


def invalid(
    loc: tuple[str | int, ...], message: str, kind: str = "value_error"
) -> RequestValidationError:
    """A 422 naming the field, for checks that need the database or the catalog."""
    return RequestValidationError([{"loc": loc, "msg": message, "type": kind}])


async def no_nul_in_url(request: Request) -> None:
    """PostgreSQL refuses NUL in text: say so as a 422, not as a driver error."""
    if "\x00" in request.url.path or b"%00" in request.scope.get("query_string", b""):
        raise invalid(("path",), "the URL contains a NUL character")


def as_utc(value: datetime | None, loc: tuple[str | int, ...]) -> datetime | None:
    """Query times: naive means UTC; a time that cannot be expressed in UTC is a 422."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise invalid(loc, "is out of range once converted to UTC") from None


def plain(value: Any) -> Any:
    """Text that can always be encoded as UTF-8 (user input can carry lone surrogates)."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value
