"""A lead's run through one pinned version of a sequence, with its SLA verdict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Index, String, func, text
from sqlmodel import JSON, Column, Field, SQLModel, col

from models.types import UTCDateTime


class EnrollmentStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    EXITED = "exited"


OPEN_STATUSES = (EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED)  # still sending or held
# The partial unique index below: at most one open enrollment per lead and sequence.
_IS_OPEN = "status IN ({})".format(", ".join(f"'{status.value}'" for status in OPEN_STATUSES))


MAILED_SQL = "touches_completed > touches_manual"  # ix_enrollment_mailed's rows


class SlaStatus(StrEnum):
    NONE = "none"  # the sequence has no sla
    PENDING = "pending"
    MET = "met"
    BREACHED = "breached"
    EXCLUDED = "excluded"


class SequenceVersion(SQLModel, table=True):
    """The exact sequence definition an enrollment started with, keyed by content hash."""

    __tablename__ = "sequence_version"

    hash: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200, index=True)
    definition: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    templates: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime)


class Enrollment(SQLModel, table=True):
    __table_args__ = (
        Index("ix_enrollment_sla_check", "sla_status", "sla_next_check_at"),
        Index("ix_enrollment_lead_sequence", "lead_id", "sequence"),
        # compliance report (worker/compliance/): covering indexes for the counts per owner,
        # sequence and period, first-touch percentiles read at their rank, and strikes
        Index(
            "ix_enrollment_report_owner",
            "owner",
            "first_touch_seconds",
            "enrolled_at",
            "sla_status",
            "sla_reason",
            "touches_completed",
            "touches_manual",
        ),
        Index(
            "ix_enrollment_report_sequence",
            "sequence",
            "first_touch_seconds",
            "enrolled_at",
            "sla_status",
            "sla_reason",
            "touches_completed",
            "touches_manual",
        ),
        Index(
            "ix_enrollment_report_time",
            "enrolled_at",
            "first_touch_seconds",
            "sla_status",
            "sla_reason",
            "touches_completed",
            "touches_manual",
        ),
        Index("ix_enrollment_first_touch", "first_touch_seconds", "enrolled_at"),
        Index("ix_enrollment_breaches", "sla_status", "owner", "sla_decided_at"),
        # the report's replies posted as events (exit email.replied): a seek, not a scan
        Index("ix_enrollment_exit", "exit_reason", "ended_at"),
        # ... and on PostgreSQL only, the enrollments mailed (completed touches beyond the manual
        # ones), per sequence: the report counts them from this small index, not the table.
        Index(
            "ix_enrollment_mailed",
            "sequence",
            postgresql_where=text(MAILED_SQL),
        ).ddl_if(dialect="postgresql"),
        Index("ix_enrollment_alert_check", "sla_alert_check_at"),
        Index("ix_enrollment_reassign", "sla_reassign_at"),
        Index(
            "ux_enrollment_open",
            "lead_id",
            "sequence",
            unique=True,
            sqlite_where=text(_IS_OPEN),
            postgresql_where=text(_IS_OPEN),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    sequence: str = Field(max_length=200, index=True)
    version: str = Field(foreign_key="sequence_version.hash", max_length=64)
    owner: str | None = Field(default=None, max_length=320, index=True)
    status: EnrollmentStatus = Field(
        default=EnrollmentStatus.ACTIVE, sa_type=String(16), index=True
    )
    exit_reason: str | None = Field(default=None, max_length=200)
    enrolled_at: datetime = Field(sa_type=UTCDateTime, index=True)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    paused_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # an auto-reply's hold (out of office): touches wait until then, apart from a manual pause
    held_until: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    trigger_event_id: int | None = Field(default=None, foreign_key="event.id")
    # SLA facts, kept in step with the touches so reports are plain aggregates.
    touches_completed: int = 0
    touches_manual: int = 0  # of which tasks done and logged touches
    first_touch_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    first_touch_seconds: int | None = None
    sla_first_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sla_window_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sla_min_touches: int | None = None
    sla_status: SlaStatus = Field(default=SlaStatus.NONE, sa_type=String(16))
    sla_reason: str | None = Field(default=None, max_length=40)
    sla_decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sla_next_check_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # At risk, alerts and reassignment (worker/flow/escalation.py); the moments are fixed with
    # the deadlines, on the same clock.
    sla_first_risk_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sla_window_risk_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sla_at_risk: str | None = Field(default=None, max_length=16)  # first_touch or touches
    sla_alert_check_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sla_reassign_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # `owner` keeps the rep the SLA verdict belongs to; after a reassignment `reassigned_to`
    # works the lead and is credited with the touches completed since.
    reassigned_to: str | None = Field(default=None, max_length=320, index=True)
    reassigned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    touches_reassigned: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    touches_manual_reassigned: int = Field(default=0, sa_column_kwargs={"server_default": "0"})

    @property
    def current_owner(self) -> str | None:
        """Who works the lead now: sends its emails and gets its tasks."""
        return self.reassigned_to or self.owner


@dataclass(slots=True)
class EnrollmentProgress:
    """What finishing a step reads and changes of a stored enrollment (counters, SLA verdict,
    status), as plain values: the delivery's record loads a batch's with one Core read and
    writes back what changed with one statement (issue 15: loading and flushing them as ORM
    objects was about a quarter of a send's CPU)."""

    id: int
    sequence: str
    owner: str | None
    reassigned_to: str | None
    status: EnrollmentStatus
    enrolled_at: datetime
    ended_at: datetime | None
    touches_completed: int
    touches_manual: int
    touches_reassigned: int
    touches_manual_reassigned: int
    first_touch_at: datetime | None
    first_touch_seconds: int | None
    sla_status: SlaStatus
    sla_first_due_at: datetime | None
    sla_window_due_at: datetime | None
    sla_min_touches: int | None
    sla_reason: str | None
    sla_decided_at: datetime | None
    sla_next_check_at: datetime | None
    sla_at_risk: str | None
    sla_alert_check_at: datetime | None
    _stored: tuple[Any, ...] = field(default=(), repr=False, compare=False)  # as last read

    def __post_init__(self) -> None:
        self.status, self.sla_status = EnrollmentStatus(self.status), SlaStatus(self.sla_status)
        self.written()

    def reread(self, values: Sequence[Any]) -> None:
        """Its columns as the database holds them now, in PROGRESS_COLUMNS order."""
        for name, value in zip(PROGRESS_COLUMNS, values, strict=True):
            setattr(self, name, value)
        self.__post_init__()

    @property
    def current_owner(self) -> str | None:
        return self.reassigned_to or self.owner

    def changes(self) -> dict[str, Any]:
        """The columns changed since it was read or last written, with their new values."""
        now = self._values()
        return {
            name: value
            for name, value, stored in zip(PROGRESS_COLUMNS, now, self._stored, strict=True)
            if value != stored
        }

    def written(self) -> None:
        """What it holds is what the database holds now."""
        self._stored = self._values()

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in PROGRESS_COLUMNS)


PROGRESS_COLUMNS: tuple[str, ...] = tuple(
    f.name for f in fields(EnrollmentProgress) if not f.name.startswith("_")
)
# An enrollment as finishing a step reads and changes it: the ORM row, or its progress.
EnrollmentState = Enrollment | EnrollmentProgress


def current_owner_sql() -> ColumnElement[Any]:
    """The SQL of Enrollment.current_owner: who works the lead now."""
    return func.coalesce(col(Enrollment.reassigned_to), col(Enrollment.owner))


def worked_by(email: str) -> ColumnElement[bool]:
    """Enrollments whose lead `email` works now."""
    return current_owner_sql() == email
