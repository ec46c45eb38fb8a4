"""`wait:` and SLA durations: 30s, 15m, 4h, 2d, 1w, 3 business days."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

_PATTERN = re.compile(
    r"^\s*(?P<n>\d+)\s*(?:(?P<unit>[smhdw])|(?P<business>business[ _]days?))\s*$", re.IGNORECASE
)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True, slots=True)
class Duration:
    amount: int
    unit: str  # s, m, h, d, w or "business"

    @property
    def is_calendar(self) -> bool:
        """Days, weeks and business days count local calendar days, not hours."""
        return self.unit in ("d", "w", "business")

    @property
    def fixed(self) -> timedelta:
        """The length of s/m/h durations (calendar units are resolved by the calendar module)."""
        if self.is_calendar:
            raise ValueError(f"{self} has no fixed length")
        return timedelta(**{_UNITS[self.unit]: self.amount})

    def __str__(self) -> str:
        if self.unit == "business":
            return f"{self.amount} business day{'s' if self.amount != 1 else ''}"
        return f"{self.amount}{self.unit}"


def parse_duration(text: str | int) -> Duration:
    """Raise ValueError naming the accepted forms when `text` is not a duration."""
    match = _PATTERN.match(str(text))
    if not match:
        raise ValueError(
            f"bad duration {text!r}: use <n>s, <n>m, <n>h, <n>d, <n>w or '<n> business days'"
        )
    amount = int(match["n"])
    if amount > 10_000:
        raise ValueError(f"duration {text!r} is implausibly long")
    return Duration(amount, "business" if match["business"] else match["unit"].lower())
