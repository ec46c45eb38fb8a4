"""Aware UTC datetimes in and out of every backend; a bulk write's shared `now` is converted
once, never mixed up with another moment."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from models.types import UTCDateTime


def bind(dialect: Any) -> Callable[[Any], Any]:
    """The column's bind processor as an engine of that backend runs it."""
    process = UTCDateTime()._cached_bind_processor(dialect)
    assert process is not None
    return process


def test_sqlite_stores_the_utc_moment_of_any_zone() -> None:
    """Given a moment in UTC+2, when bound for SQLite, then it is stored as its UTC time."""
    process = bind(sqlite.dialect())
    moment = datetime(2026, 12, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert process(moment) == "2026-12-01 10:00:00.000000"


def test_the_same_object_twice_and_then_another_moment_each_bind_right() -> None:
    """Given one moment bound twice and then a different one (and None), when bound, then each
    gives its own value: the remembered conversion is only for the very same object."""
    process = bind(sqlite.dialect())
    now = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    later = now + timedelta(microseconds=1)
    bound = [process(now), process(now), process(later), process(None), process(now)]
    assert bound == [
        "2026-12-01 09:30:00.000000",
        "2026-12-01 09:30:00.000000",
        "2026-12-01 09:30:00.000001",
        None,
        "2026-12-01 09:30:00.000000",
    ]


def test_a_naive_datetime_is_refused_even_after_an_aware_one() -> None:
    """Given an aware moment bound first, when a naive one is bound, then it is refused."""
    process = bind(postgresql.psycopg.dialect())
    aware = datetime(2026, 12, 1, tzinfo=UTC)
    assert process(aware) == aware
    with pytest.raises(ValueError, match="naive datetime"):
        process(datetime(2026, 12, 1))
