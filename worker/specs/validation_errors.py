"""Pydantic errors as one line that names the field and the reason."""

from __future__ import annotations

from pydantic import ValidationError


def describe(error: dict) -> str:  # type: ignore[type-arg]  # pydantic's ErrorDetails
    where = ".".join(str(part) for part in error["loc"] if not str(part).startswith("function-"))
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def one_line(exc: ValidationError) -> str:
    return "; ".join(describe(dict(e)) for e in exc.errors())
