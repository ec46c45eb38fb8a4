"""Sequence YAML -> frozen, validated specs (extra keys forbidden), with file:line errors."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from functools import cached_property
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BeforeValidator,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from models.validation import EVENT_TYPE_PATTERN, normalise_sender, normalise_timezone
from worker.specs.calendar import (
    ANY_TIME,
    WEEKDAYS,
    SendCalendar,
    check_holiday_country,
    closed_dates,
    holiday_region,
)
from worker.specs.durations import Duration
from worker.specs.rendering import Renderer
from worker.specs.spec_parts import DAY_NAMES, DurationField, SlaSpec, Strict, WindowSpec
from worker.specs.validation_errors import located_error
from worker.specs.variants import (
    TEMPLATE_NAME,
    VariantSpec,
    check_variants,
    choose_variant,
    inside_templates,
)
from worker.specs.yaml_source import SourceErrorGroup, YamlDocument, validate_model

ENGAGEMENT_EVENTS = frozenset({"email.replied", "meeting.booked"})
SUPPRESSING_EVENTS = frozenset({"lead.unsubscribed", "email.bounced", "email.complained"})
AUTO_REPLIED = "email.auto_replied"  # an out-of-office: touches held, neither reply nor touch
BUILTIN_EVENTS = frozenset(
    {
        *ENGAGEMENT_EVENTS,
        *SUPPRESSING_EVENTS,
        AUTO_REPLIED,
        "task.completed",
        "touch.logged",
        "lead.mql",
        "lead.created",
        "form.submitted",
    }
)
HOLIDAYS_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,10})?$"
_STEP_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class StepSpec(Strict):
    id: str = Field(pattern=_STEP_ID)
    email: str | None = Field(default=None, pattern=TEMPLATE_NAME)
    variants: list[VariantSpec] | None = None  # A/B: instead of `email` (worker/specs/variants.py)
    task: str | None = Field(default=None, min_length=1, max_length=500)
    wait: DurationField = Duration(0, "s")
    thread: bool = False
    due_within: DurationField | None = None

    @model_validator(mode="after")
    def _one_action(self) -> StepSpec:
        if [self.email, self.variants, self.task].count(None) != 2:
            raise ValueError(f"step {self.id!r} needs exactly one of 'email', 'variants' or 'task'")
        if self.email:
            inside_templates(self.email)
        if self.variants is not None:
            check_variants(self.id, self.variants)
        if self.thread and self.task:
            raise ValueError(f"step {self.id!r}: 'thread' applies to email steps only")
        if self.due_within and not self.task:
            raise ValueError(f"step {self.id!r}: 'due_within' applies to task steps only")
        return self

    @property
    def is_email(self) -> bool:
        return self.task is None

    @property
    def templates(self) -> list[str]:
        """Every template the step may send: its email's, or each variant's."""
        if self.variants is not None:
            return [variant.email for variant in self.variants]
        return [self.email] if self.email else []

    def variant_for(self, lead_email: str, sequence: str) -> VariantSpec | None:
        """The lead's variant of this step (None: the step has no variants)."""
        if self.variants is None:
            return None
        return choose_variant(self.variants, lead_email=lead_email, sequence=sequence, step=self.id)

    def template_for(self, variant: str | None) -> str:
        """The template a touch renders: its recorded variant's, else the step's email."""
        for candidate in self.variants or ():
            if candidate.name == variant:
                return candidate.email
        if self.email is not None:
            return self.email
        assert self.variants, "an email step has an email or variants"
        return self.variants[0].email  # a variant no longer listed (not in a pinned version)


class SequenceSpec(Strict):
    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    trigger: Annotated[
        list[Annotated[str, Field(pattern=EVENT_TYPE_PATTERN)]], BeforeValidator(_listify)
    ] = Field(min_length=1)
    exit_on: Annotated[
        list[Annotated[str, Field(pattern=EVENT_TYPE_PATTERN)]], BeforeValidator(_listify)
    ] = Field(default_factory=list)
    sender: str = Field(default="owner", alias="from", min_length=1)
    send_window: WindowSpec | None = None
    default_timezone: str = "UTC"
    holidays: str | None = Field(default=None, pattern=HOLIDAYS_PATTERN)
    days_off: list[date] = Field(default_factory=list)
    reenroll: Literal["never", "after_exit"] = "never"
    exclusive: bool = False
    sla: SlaSpec | None = None
    steps: list[StepSpec] = Field(min_length=1)
    _templates: dict[str, str] = PrivateAttr(default_factory=dict)  # pinned with the version

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        """`owner`, `addr` or `Name <addr>`: a typo here would fail every send of the sequence."""
        if value == "owner":
            return value
        try:
            return normalise_sender(value)
        except ValueError as exc:
            if "one line" in str(exc):
                raise
            raise ValueError(f"{value!r} must be 'owner', an address or 'Name <address>'") from None

    @field_validator("default_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return normalise_timezone(value)

    @field_validator("holidays")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value:
            check_holiday_country(*holiday_region(value))
        return value

    @model_validator(mode="after")
    def _business_hours_fallback(self) -> SequenceSpec:
        """Leads whose owner has no working_hours count on the send window: there must be one."""
        if self.sla and self.sla.clock == "business_hours" and self.send_window is None:
            raise located_error(
                (
                    ("sla", "clock"),
                    "sla.clock business_hours counts the send window's hours when the owner has "
                    "no working_hours in team.yaml: add a send_window",
                )
            )
        return self

    @field_validator("steps")
    @classmethod
    def _unique_ids(cls, steps: list[StepSpec]) -> list[StepSpec]:
        seen: set[str] = set()
        for index, step in enumerate(steps):
            if step.id in seen:  # located at the repeated id, so file:line points at it
                raise ValidationError.from_exception_data(
                    "steps",
                    [
                        InitErrorDetails(
                            type=PydanticCustomError(
                                "duplicate_step", "duplicate step id '{id}'", {"id": step.id}
                            ),
                            loc=(index, "id"),
                            input=step.id,
                        )
                    ],
                )
            seen.add(step.id)
        return steps

    def definition(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def pin_templates(self, sources: dict[str, str]) -> SequenceSpec:
        """Attach the template texts this version renders with (before `version` is read)."""
        self._templates = dict(sources)
        for cached in ("version", "renderer", "calendar"):
            self.__dict__.pop(cached, None)
        return self

    @property
    def templates(self) -> dict[str, str]:
        return dict(self._templates)

    @cached_property
    def version(self) -> str:
        """A content hash of the definition and its templates: same content, same version."""
        content = {"definition": self.definition(), "templates": self._templates}
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @cached_property
    def renderer(self) -> Renderer:
        """Renders with the pinned templates, so edits to the folder only reach new enrollments."""
        return Renderer(sources=self._templates)

    @cached_property
    def calendar(self) -> SendCalendar:
        country, subdivision = holiday_region(self.holidays) if self.holidays else (None, None)
        is_closed = closed_dates(country, subdivision, frozenset(self.days_off))
        if self.send_window is None:
            return (
                SendCalendar(is_closed=is_closed) if (self.holidays or self.days_off) else ANY_TIME
            )
        start, end = self.send_window.minutes
        days = frozenset(DAY_NAMES.index(day) for day in self.send_window.days)
        return SendCalendar(
            days=days,
            start_minute=start,
            end_minute=end,
            is_closed=is_closed,
            business_days=days if days != frozenset(range(7)) else WEEKDAYS,
        )

    def zone_for(self, lead_timezone: str | None) -> ZoneInfo:
        """The zone a lead's window is read in: the lead's own, else the default."""
        if self.send_window and self.send_window.timezone != "lead":
            return ZoneInfo(self.send_window.timezone)
        return ZoneInfo(lead_timezone or self.default_timezone)

    def step(self, step_id: str) -> StepSpec | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def step_after(self, step_id: str) -> StepSpec | None:
        ids = [s.id for s in self.steps]
        index = ids.index(step_id) + 1 if step_id in ids else len(ids)
        return self.steps[index] if index < len(ids) else None


def parse_sequence(document: YamlDocument) -> SequenceSpec:
    """Validate one file; raises SourceErrorGroup with every problem found, each at its line."""
    data = document.data
    if not isinstance(data, dict):
        raise SourceErrorGroup([document.error((), "a sequence file must be a YAML mapping")])
    data = {"name": document.path.stem, **data}
    return validate_model(SequenceSpec, data, document)
