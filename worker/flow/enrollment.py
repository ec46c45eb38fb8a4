"""Enrollments: start one (or refuse, saying why), end one, and suppress an address."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlmodel import Session, col, select

from models.compliance import ComplianceKind
from models.enrollment import OPEN_STATUSES, Enrollment, EnrollmentStatus
from models.lead import EnrollingLead, Lead
from worker.compliance import log
from worker.compliance.recording import refresh_verdict, sla_start_values
from worker.compliance.verdicts import Exit
from worker.flow.enrollment_rows import StartedEnrollment, insert_enrollments, plan_first_touches
from worker.flow.scheduling import cancel_pending_touches
from worker.notify.outbox import publish
from worker.specs.sequences import SequenceSpec
from worker.specs.team import TeamSpec
from worker.specs.versions import VersionStore

logger = logging.getLogger("followup.enrollment")


class RefusalKind(StrEnum):
    SUPPRESSED = "suppressed"
    ALREADY_ENROLLED = "already_enrolled"  # open now, or once before with `reenroll: never`
    EXCLUSIVE = "exclusive"  # in another exclusive sequence


@dataclass(frozen=True)
class Refusal:
    """Why a lead was not enrolled; the message is the one line people read."""

    kind: RefusalKind
    message: str

    def __str__(self) -> str:
        return self.message


def enroll(
    session: Session,
    lead: Lead,
    spec: SequenceSpec,
    *,
    versions: VersionStore,
    team: TeamSpec,
    at: datetime,
    now: datetime,
    event_id: int | None = None,
    new_lead: bool = False,
) -> StartedEnrollment | Refusal:
    """Start `spec` for `lead` and plan its first touch: the new enrollment, or why not.

    `new_lead`: created in this transaction, so it has no enrollment in `spec` to look up."""
    pairs = [(lead, event_id)]
    return enroll_many(
        session, pairs, spec, versions=versions, team=team, at=at, now=now, new_leads=new_lead
    )[0]


def enroll_many(
    session: Session,
    leads: Sequence[tuple[EnrollingLead, int | None]],
    spec: SequenceSpec,
    *,
    versions: VersionStore,
    team: TeamSpec,
    at: datetime | Sequence[datetime],
    now: datetime,
    new_leads: bool = False,
) -> list[StartedEnrollment | Refusal]:
    """Start `spec` for (lead, trigger event id) pairs; each gets its result. `at`: when they
    enroll, one moment for all or one a pair (events that occurred apart).

    One INSERT each for the enrollments, their first touches and log entries, and one SELECT
    of the new ids (enrollment_rows.py): no ORM object per lead."""
    chosen = [lead for lead, _ in leads]
    refusals = enrollment_refusals(session, chosen, spec, versions, new_leads=new_leads)
    version = versions.pin(session, spec, now=now)
    results: list[StartedEnrollment | Refusal | None] = []
    starting: list[tuple[EnrollingLead, dict[str, object], datetime]] = []
    moments = [at] * len(leads) if isinstance(at, datetime) else at
    for (lead, event_id), when in zip(leads, moments, strict=True):
        assert lead.id is not None, "enroll stored leads"
        refused = refusals.get(lead.id)
        results.append(refused)
        if refused is not None:
            continue
        refusals[lead.id] = _already_enrolled(lead)  # listed twice in one batch
        values = {
            "lead_id": lead.id,
            "sequence": spec.name,
            "version": version,
            "owner": lead.owner,
            "enrolled_at": when,
            "trigger_event_id": event_id,
            **sla_start_values(spec, team, lead.owner, lead.timezone, when),
        }
        starting.append((lead, values, when))
    started = insert_enrollments(session, [values for _, values, _ in starting])
    firsts = [(lead, e, when) for (lead, _, when), e in zip(starting, started, strict=True)]
    plan_first_touches(session, firsts, spec)
    begun = iter(started)
    return [next(begun) if result is None else result for result in results]


def _already_enrolled(lead: EnrollingLead) -> Refusal:
    return Refusal(RefusalKind.ALREADY_ENROLLED, f"{lead.email} was already enrolled")


def enrollment_refusals(
    session: Session,
    leads: Sequence[EnrollingLead],
    spec: SequenceSpec,
    versions: VersionStore,
    *,
    new_leads: bool = False,
) -> dict[int, Refusal]:
    """Suppression, `reenroll` and `exclusive` rules for many leads: lead id -> why not.

    `new_leads`: created in this transaction, so none was ever in `spec` (other sequences an
    earlier trigger of the same event started are still looked up for `exclusive`)."""
    by_id = {lead.id: lead for lead in leads if lead.id is not None}
    reasons = {
        lead_id: Refusal(
            RefusalKind.SUPPRESSED, f"{lead.email} is suppressed ({lead.suppressed_reason})"
        )
        for lead_id, lead in by_id.items()
        if lead.suppressed_at is not None
    }
    previous = (
        []
        if new_leads
        else session.exec(
            select(Enrollment.lead_id, Enrollment.status).where(
                col(Enrollment.lead_id).in_(by_id), Enrollment.sequence == spec.name
            )
        ).all()
    )
    for lead_id, status in previous:
        if spec.reenroll == "never" or status in OPEN_STATUSES:
            reasons.setdefault(lead_id, _already_enrolled(by_id[lead_id]))
    if spec.exclusive:
        _exclusive_refusals(session, by_id, spec, versions, reasons)
    return reasons


def _exclusive_refusals(
    session: Session,
    by_id: dict[int, EnrollingLead],
    spec: SequenceSpec,
    versions: VersionStore,
    reasons: dict[int, Refusal],
) -> None:
    """Leads already running another exclusive sequence are not enrolled in this one."""
    running = open_enrollments_of(session, list(by_id), Enrollment.sequence, Enrollment.version)
    for lead_id, other, version in running:
        if lead_id not in reasons and versions.get(session, version).exclusive:
            email = by_id[lead_id].email
            logger.info("%s is in exclusive %r; trigger for %r ignored", email, other, spec.name)
            reasons[lead_id] = Refusal(
                RefusalKind.EXCLUSIVE, f"{email} is already in exclusive sequence {other!r}"
            )


def exit_enrollment(
    session: Session,
    enrollment: Enrollment,
    lead: Lead,
    *,
    reason: str,
    at: datetime,
    now: datetime,
) -> None:
    """End an enrollment: cancel what has not gone out, decide its SLA, log the exit."""
    assert enrollment.id is not None, "exit stored enrollments"
    enrollment.status = EnrollmentStatus.EXITED
    enrollment.exit_reason = reason
    enrollment.ended_at = at
    session.add(enrollment)
    cancel_pending_touches(session, enrollment_id=enrollment.id, reason=f"exited: {reason}")
    log.append(
        session,
        ComplianceKind.ENROLLMENT_EXITED,
        at=at,
        lead_email=lead.email,
        enrollment=enrollment,
        detail=reason,
    )
    refresh_verdict(session, enrollment, lead.email, now, exit=Exit(at, reason))


def suppress_lead(
    session: Session,
    lead: Lead,
    *,
    reason: str,
    at: datetime,
    now: datetime,
    why: str | None = None,
) -> list[str]:
    """Never mail this address again, and end everything it is enrolled in (names returned);
    `reason` is the exit's event type, `why` what the lead's record keeps (default: reason)."""
    if lead.suppressed_at is None:
        lead.suppressed_at = at
        lead.suppressed_reason = why or reason
        session.add(lead)
    exited = []
    for enrollment in open_enrollments(session, lead):
        exit_enrollment(session, enrollment, lead, reason=reason, at=at, now=now)
        exited.append(enrollment.sequence)
    publish_lead_event(session, lead, reason, at=at, exited=exited)
    return exited


# What CRMs hear (webhooks) when a lead replies, bounces or unsubscribes, whatever the source:
# the API, an import, the mailbox watcher, an SMTP 5.1.x or the unsubscribe link.
LEAD_EVENTS = {
    "email.replied": "lead.replied",
    "email.bounced": "lead.bounced",
    "lead.unsubscribed": "lead.unsubscribed",
}


def publish_lead_event(
    session: Session, lead: Lead, event_type: str, *, at: datetime, exited: list[str]
) -> None:
    """The lead.* webhook event for a reply, bounce or unsubscribe (others publish nothing)."""
    if event_type in LEAD_EVENTS:
        data = {"lead": lead.email, "owner": lead.owner, "reason": event_type, "exited": exited}
        publish(session, LEAD_EVENTS[event_type], occurred_at=at, data=data)


def open_enrollments_of(
    session: Session, lead_ids: Sequence[int | None], *columns: Any
) -> list[tuple[Any, ...]]:
    """(lead id, *columns) of the open enrollments of many leads. The status is filtered here:
    given both IN lists, SQLite walks the status index, i.e. every open enrollment there is
    (an import of 100,000 leads read all of them once a chunk: quadratic)."""
    rows = session.execute(
        select(Enrollment.status, Enrollment.lead_id, *columns).where(
            col(Enrollment.lead_id).in_(lead_ids)
        )
    ).all()
    return [tuple(row[1:]) for row in rows if row[0] in OPEN_STATUSES]


def open_enrollments(session: Session, lead: Lead) -> list[Enrollment]:
    """The lead's enrollments that are still active or paused."""
    return list(
        session.exec(
            select(Enrollment).where(
                Enrollment.lead_id == lead.id, col(Enrollment.status).in_(OPEN_STATUSES)
            )
        ).all()
    )
