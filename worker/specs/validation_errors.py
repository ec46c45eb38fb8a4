"""Pydantic errors as one line that names the field and the reason."""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from worker.specs.yaml_source import Loc


def describe(error: dict) -> str:  # type: ignore[type-arg]  # pydantic's ErrorDetails
    where = ".".join(str(part) for part in error["loc"] if not str(part).startswith("function-"))
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def one_line(exc: ValidationError) -> str:
    return "; ".join(describe(dict(e)) for e in exc.errors())


Problem = tuple[Loc, str]  # where in the file, and what is wrong there


def located_error(*problems: Problem) -> ValidationError:
    """Errors found by a whole-model check, each placed at its loc so file:line points at it."""
    return ValidationError.from_exception_data(
        "spec",
        [
            InitErrorDetails(type=PydanticCustomError("invalid", message), loc=loc, input=None)
            for loc, message in problems
        ],
    )
