"""Moments written the way tests think of them: a UTC wall time, or a local one in a zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(
    zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0
) -> datetime:
    """The UTC moment at which `zone`'s clocks show this wall time."""
    return datetime(year, month, day, hour, minute, tzinfo=zone).astimezone(UTC)
