"""What the API accepts beyond models/, and every shape it answers with (the OpenAPI contract)."""

from __future__ import annotations

from dataclasses import field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass

from models.event import EventIn
from models.lead import LeadIn, LeadPublic
from models.validation import Storable, normalise_email
from worker.compliance.report import ReportRow
from worker.imports.options import ImportSummary


class EventBody(EventIn):
    """A lead event (SPEC section 7); `id` makes a retry harmless."""


class LeadBody(LeadIn):
    """A lead to create or update; fields left out keep their stored values."""


class EnrollmentIn(Storable):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: str = Field(max_length=320)
    sequence: str = Field(min_length=1, max_length=200)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalise_email(value)


class Problem(BaseModel):
    detail: str


class EventAccepted(BaseModel):
    id: int = Field(description="the stored event's number")
    key: str | None = Field(description="the idempotency key sent as `id`")
    status: Literal["accepted", "duplicate"]
    processed: bool = Field(
        description="carried out already (else stored and queued: a worker or the API applies it)"
    )


class EnrollmentPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    sequence: str
    version: str
    owner: str | None
    status: str
    exit_reason: str | None
    enrolled_at: datetime
    ended_at: datetime | None
    sla_status: str
    sla_reason: str | None
    touches_completed: int
    first_touch_at: datetime | None


class TouchPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    enrollment_id: int | None
    step: str
    kind: str
    status: str
    due_at: datetime
    completed_at: datetime | None
    attempts: int
    subject: str | None
    last_error: str | None
    detail: str | None
    variant: str | None = None  # the A/B variant the touch sends


class LeadDetail(BaseModel):
    lead: LeadPublic
    enrollments: list[EnrollmentPublic]
    touches: list[TouchPublic]


class RejectedRowOut(BaseModel):
    line: int
    email: str
    reason: str


@pydantic_dataclass(config=ConfigDict(json_schema_serialization_defaults_required=True))
class ImportReport(ImportSummary):
    """The counts of `followup leads import` (ImportSummary), and the first rejected rows."""

    summary: str = ""
    rejects: list[RejectedRowOut] = field(default_factory=list)
    rejects_truncated: bool = False

    @classmethod
    def of(cls, summary: ImportSummary, rejects: list[RejectedRowOut]) -> ImportReport:
        return cls(
            **summary.as_dict(),
            summary=summary.text(),
            rejects=rejects,
            rejects_truncated=summary.rejected > len(rejects),
        )


class SequenceSummary(BaseModel):
    name: str
    description: str
    trigger: list[str]
    exit_on: list[str]
    steps: int
    sla: dict[str, Any] | None
    version: str


class SequenceDetail(BaseModel):
    name: str
    version: str
    file: str
    definition: dict[str, Any]


class ReportOut(BaseModel):
    """Exactly `followup compliance report --format json` (rows as the report computes them)."""

    model_config = ConfigDict(extra="allow")

    by: str
    since: str | None
    until: str | None
    rows: list[ReportRow]
    total: ReportRow
    revenue_at_risk: float | None


class LogEntryOut(BaseModel):
    """One line of `followup compliance log --format jsonl`."""

    model_config = ConfigDict(extra="allow")

    at: str
    kind: str
    lead: str
    owner: str | None
    sequence: str | None
    step: str | None
    detail: str | None


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] | None = None  # with a valid API key: each check and what it found
