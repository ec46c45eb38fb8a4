"""One planned contact: an email to send or a manual task; its `due_at` is the schedule."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, Index, String, and_, literal, text
from sqlmodel import Field, SQLModel, col

from models.types import UTCDateTime


class TouchKind(StrEnum):
    EMAIL = "email"
    TASK = "task"
    LOGGED = "logged"  # a manual touch reported by a touch.logged event


class TouchStatus(StrEnum):
    SCHEDULED = "scheduled"  # waiting for due_at
    DEFERRED = "deferred"  # waiting for due_at after a limit or window pushed it back
    QUEUED = "queued"  # claimed by a scheduler, id handed to the broker
    SENDING = "sending"  # claimed by a worker
    HELD = "held"  # its enrollment is paused; resumed with the remaining wait kept
    OPEN = "open"  # a manual task waiting for its owner
    SENT = "sent"
    DONE = "done"  # a manual task completed / a logged touch
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


WAITING = (TouchStatus.SCHEDULED, TouchStatus.DEFERRED)
COMPLETED = (TouchStatus.SENT, TouchStatus.DONE)
FINAL = (*COMPLETED, TouchStatus.FAILED, TouchStatus.CANCELLED, TouchStatus.SKIPPED)


def _when_set(name: str, *columns: str) -> Index:
    """An index of only the rows whose last column is set (partial: IS NOT NULL)."""
    where = text(f"{columns[-1]} IS NOT NULL")
    return Index(name, *columns, sqlite_where=where, postgresql_where=where)


SENT_EMAIL_SQL = "kind = 'email' AND status = 'sent'"  # the sent-email indexes' rows
WAITING_SQL = "status IN ('scheduled', 'deferred')"  # ix_touch_due's rows: WAITING, spelled out


def is_waiting() -> ColumnElement[bool]:
    """A touch is WAITING, in ix_touch_due's own literal words: PostgreSQL and SQLite use a
    partial index only for a query whose terms imply its predicate, which bound parameters
    (and a prepared statement's generic plan) never do."""
    return text(WAITING_SQL)  # type: ignore[return-value]


def _of_sent_emails(name: str, *columns: str) -> Index:
    """An index of only the emails sent (partial, SENT_EMAIL_SQL): a claim, a send or a hold of
    a waiting touch moves none of its entries. Kind and status stay columns: SQLite (3.40)
    reads a partial index as covering only when it holds every column the query names."""
    where = text(SENT_EMAIL_SQL)
    return Index(name, *columns, sqlite_where=where, postgresql_where=where)


class Touch(SQLModel, table=True):
    __table_args__ = (
        Index("ix_touch_status_due", "status", "due_at"),
        # The waiting touches in due order (issue 15, seventh pass): the scheduler's claim takes
        # the first few due without reading, and sorting, all the others (which it did through
        # ix_touch_status_due, two statuses: n rows a claim for a backlog of n, quadratic).
        Index(
            "ix_touch_due",
            "due_at",
            "id",
            "status",  # SQLite reads it as covering only when it holds every column named
            sqlite_where=text(WAITING_SQL),
            postgresql_where=text(WAITING_SQL),
        ),
        # Partial where most rows hold NULL (issue 15): a claim changes `status`, so PostgreSQL
        # writes a new entry in every index whose predicate the row meets, and SQLite moves the
        # row's entry in each index on a changed column. A waiting touch has no lease, no
        # Message-ID, no completion, bounce or complaint: it is in none of these. Every query
        # on them compares the column, which implies IS NOT NULL on both backends.
        _when_set("ix_touch_status_lease", "status", "lease_until"),  # re-drive: leases run out
        _when_set("ix_touch_message_id", "message_id"),  # replies and bounces name what we sent
        _when_set("ix_touch_completed_at", "completed_at"),
        _when_set("ix_touch_bounced_at", "bounced_at"),  # guardrails: the window's bounces
        _when_set("ix_touch_complained_at", "complained_at"),  # ... and complaints
        # An enrollment's touches (its pending ones, a step planned): no status column, so a
        # claim never moves its entry on SQLite (issue 15, claim).
        Index("ix_touch_enrollment_step", "enrollment_id", "step"),
        # The report's enrollments mailed within a window: covering, one probe an enrollment
        # (issue 15: 10 s -> 0.3 s on a million touches); only sent emails (issue 15, claim).
        _of_sent_emails("ix_touch_emailed", "enrollment_id", "kind", "status", "completed_at"),
        # ... and on SQLite its sent emails per sequence, step and mailbox with no join to the
        # enrollment: in GROUP BY order, so SQLite streams the count instead of sorting every
        # sent email (kind and status lead, so the planner seeks them even un-ANALYZEd).
        _of_sent_emails(
            "ix_touch_sent", "kind", "status", "sequence", "step", "sender", "completed_at"
        ).ddl_if(dialect="sqlite"),
        # ... and on PostgreSQL the same counts, from ~600,000 entries of a deduplicated 4 MB
        # index instead of a scan of the table (issue 15, fourth pass).
        Index(
            "ix_touch_sent_email",
            "sequence",
            "step",
            "sender",
            postgresql_where=text(SENT_EMAIL_SQL),
        ).ddl_if(dialect="postgresql"),
        # ... and the A/B variants' sends and replies: partial (only touches with a variant),
        # covering, so a report without variants reads nothing (issue 15, second pass).
        Index(
            "ix_touch_variant",
            "enrollment_id",
            "kind",
            "status",
            "step",
            "variant",
            "replied_at",
            sqlite_where=text("variant IS NOT NULL"),
            postgresql_where=text("variant IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    # looked up through ix_touch_enrollment_step, which starts with it
    enrollment_id: int | None = Field(default=None, foreign_key="enrollment.id")
    lead_id: int = Field(foreign_key="lead.id", index=True)
    # the enrollment's sequence, copied at insert so the report counts sends without the join
    sequence: str | None = Field(default=None, max_length=200)
    step: str = Field(max_length=100)
    kind: TouchKind = Field(sa_type=String(16))
    status: TouchStatus = Field(sa_type=String(16))
    due_at: datetime = Field(sa_type=UTCDateTime)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempts: int = 0  # sends really tried (a hold-back or deferral is none)
    redrives: int = 0  # leases that ran out while `sending` (its worker died or timed out)
    last_error: str | None = Field(default=None, max_length=1000)
    message_id: str | None = Field(default=None, max_length=255)
    subject: str | None = Field(default=None, max_length=998)
    sender: str | None = Field(default=None, max_length=320)
    detail: str | None = Field(default=None, max_length=1000)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # a task's due_within
    variant: str | None = Field(default=None, max_length=100)  # the A/B variant this touch sends
    replied_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # the reply it earned
    bounced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # hard
    complained_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


def sent_email() -> ColumnElement[bool]:
    """The sent emails, their kind and status written into the SQL: PostgreSQL proves
    ix_touch_sent_email's predicate from constants in any plan, from bound parameters only in a
    custom one (a statement prepared after repeated runs may get a generic plan)."""
    return and_(
        col(Touch.kind) == literal(TouchKind.EMAIL.value, literal_execute=True),
        col(Touch.status) == literal(TouchStatus.SENT.value, literal_execute=True),
    )
