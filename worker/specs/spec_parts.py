"""The parts every spec is built from: strict frozen models, durations as YAML writes them, the
send window and the SLA terms of a sequence (worker/specs/sequences.py puts them together)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from models.validation import normalise_timezone
from worker.specs.durations import Duration, parse_duration

DayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAY_NAMES: tuple[DayName, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")

DurationField = Annotated[
    Duration,
    BeforeValidator(lambda v: v if isinstance(v, Duration) else parse_duration(v)),
    PlainSerializer(str, return_type=str),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _some_days(value: list[DayName]) -> list[DayName]:
    if not value:
        raise ValueError("days must name at least one day")
    return value


Days = Annotated[list[DayName], AfterValidator(_some_days)]  # a send window's or a shift's


class WindowSpec(Strict):
    days: Days = list(DAY_NAMES[:5])
    hours: str = "00:00-24:00"
    timezone: str = "lead"

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        minutes = parse_hours(value)
        if minutes[0] >= minutes[1]:
            raise ValueError(f"hours {value!r}: the start must be before the end")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return value if value == "lead" else normalise_timezone(value)

    @property
    def minutes(self) -> tuple[int, int]:
        return parse_hours(self.hours)


def parse_hours(value: str) -> tuple[int, int]:
    match = _HOURS.match(value)
    if not match:
        raise ValueError(f"hours {value!r} must look like '09:00-17:00'")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
        raise ValueError(f"hours {value!r} is not a valid time range")
    return h1 * 60 + m1, h2 * 60 + m2


class SlaSpec(Strict):
    first_touch_within: DurationField | None = None
    min_touches: int | None = Field(default=None, ge=1, le=1000)
    within: DurationField | None = None
    clock: Literal["calendar", "business_hours"] = "calendar"

    @model_validator(mode="after")
    def _complete(self) -> SlaSpec:
        if (self.min_touches is None) != (self.within is None):
            raise ValueError("min_touches and within go together")
        if self.first_touch_within is None and self.min_touches is None:
            raise ValueError("an sla needs first_touch_within and/or min_touches with within")
        return self
