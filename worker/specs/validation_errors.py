"""Pydantic errors as one line that names the field and the reason."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError


def describe(error: Mapping[str, Any]) -> str:
    """One pydantic (or FastAPI) error detail: its `loc` and `msg`."""
    where = ".".join(str(part) for part in error["loc"] if not str(part).startswith("function-"))
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def one_line(exc: ValidationError) -> str:
    return "; ".join(describe(dict(e)) for e in exc.errors())
