"""Pydantic errors for people: the one place their location and message are cleaned up."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError


def error_loc(error: Mapping[str, Any]) -> tuple[str | int, ...]:
    """Where the error is, without pydantic's `function-after[...]` validator steps."""
    return tuple(part for part in error["loc"] if not str(part).startswith("function-"))


def error_message(error: Mapping[str, Any]) -> str:
    """The reason, without pydantic's "Value error, " prefix on our own ValueErrors."""
    return str(error.get("msg", "invalid")).removeprefix("Value error, ")


def describe(error: Mapping[str, Any]) -> str:
    """`field.path: reason`, or the reason alone for the whole input."""
    where = ".".join(str(part) for part in error_loc(error))
    message = error_message(error)
    return f"{where}: {message}" if where else message


def one_line(exc: ValidationError) -> str:
    return "; ".join(describe(e) for e in exc.errors())


Problem = tuple[tuple[str | int, ...], str]  # where in the file, and what is wrong there


def located_error(*problems: Problem) -> ValidationError:
    """Errors found by a whole-model check, each placed at its loc so file:line points at it."""
    return ValidationError.from_exception_data(
        "spec",
        [
            InitErrorDetails(type=PydanticCustomError("invalid", message), loc=loc, input=None)
            for loc, message in problems
        ],
    )
