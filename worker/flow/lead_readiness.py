"""`sequences check --leads`: would the stored leads render every step still ahead of them?

Checked before any of those steps is due: each open enrollment renders its remaining steps with
the version it is pinned to, and each trigger event recorded but not applied yet renders the
current version for the lead it would enroll (the stored lead with the event's fields merged in,
unless enrolling would refuse it). A big database is checked on a random sample, and the counts
say how many of how many were checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlmodel import Session, col, func, select

from models.enrollment import OPEN_STATUSES, Enrollment
from models.event import Event, EventIn
from models.lead import Lead
from models.touch import FINAL, Touch
from models.validation import FieldsTooLarge
from worker.engine.tunables import LEAD_CHECK_IDS_PER_QUERY, LEAD_CHECK_SAMPLE
from worker.flow.enrollment import enrollment_refusals
from worker.flow.leads import merge_lead_data
from worker.specs.catalog import Catalog
from worker.specs.rendering import RenderError, build_context
from worker.specs.sending import lead_owner_context, no_sender_reason, sender_for
from worker.specs.sequences import SequenceSpec, StepSpec
from worker.specs.sparse_lead import SAMPLE_UNSUBSCRIBE, render_step
from worker.specs.versions import VersionStore

T = TypeVar("T")


@dataclass(frozen=True)
class LeadFailure:
    """A stored lead whose data fails a step it has ahead of it."""

    lead: str
    sequence: str
    step: str
    reason: str
    waiting: bool = False  # from a trigger event not applied yet, not an open enrollment


@dataclass
class Coverage:
    sequence: str
    enrolled: int = 0
    enrolled_checked: int = 0
    waiting: int = 0
    waiting_checked: int = 0


@dataclass
class Readiness:
    coverage: list[Coverage] = field(default_factory=list)
    failures: list[LeadFailure] = field(default_factory=list)


@dataclass(frozen=True)
class _Check:
    """What a lead's steps render with: the team and the default sender of this process."""

    catalog: Catalog
    default_from: str | None

    def first_failure(
        self,
        spec: SequenceSpec,
        steps: Iterable[StepSpec],
        lead: dict[str, Any],
        owner: str | None,
    ) -> tuple[str, str] | None:
        """(step, reason) of the first step that would fail for this lead, or None."""
        team, default_from = self.catalog.team, self.default_from
        names = lead_owner_context(spec, owner, team=team, default_from=default_from)
        has_sender = sender_for(spec, owner, team=team, default_from=default_from) is not None
        for step in steps:
            if step.is_email and not has_sender:
                return step.id, no_sender_reason(owner)
            try:
                render_step(spec.renderer, step, _context(spec, step, lead, names))
            except RenderError as exc:
                return step.id, str(exc)
        return None


def _context(
    spec: SequenceSpec, step: StepSpec, lead: dict[str, Any], owner: dict[str, str]
) -> dict[str, Any]:
    """As delivery builds it: the stored lead, and the enrollment's owner (not the lead's)."""
    return build_context(
        lead=lead, owner=owner, sequence=spec, step=step.id, unsubscribe_url=SAMPLE_UNSUBSCRIBE
    )


def check_stored_leads(
    session: Session,
    *,
    catalog: Catalog,
    versions: VersionStore,
    default_from: str | None,
    sample: int = LEAD_CHECK_SAMPLE,
) -> Readiness:
    """Every sequence in the folder or still running a pinned version, checked on its leads."""
    check = _Check(catalog, default_from)
    readiness = Readiness()
    running = session.exec(
        select(Enrollment.sequence).where(col(Enrollment.status).in_(OPEN_STATUSES)).distinct()
    ).all()
    for name in sorted({*catalog.sequences, *running}):
        coverage = Coverage(name)
        readiness.coverage.append(coverage)
        readiness.failures += _enrolled(session, check, versions, coverage, sample)
        spec = catalog.sequences.get(name)
        if spec is not None:
            readiness.failures += _waiting(session, check, spec, versions, coverage, sample)
    return readiness


def _enrolled(
    session: Session, check: _Check, versions: VersionStore, coverage: Coverage, sample: int
) -> list[LeadFailure]:
    """Open enrollments: the steps without a finished touch, with the pinned version."""
    where = (Enrollment.sequence == coverage.sequence, col(Enrollment.status).in_(OPEN_STATUSES))
    coverage.enrolled = session.exec(select(func.count()).where(*where)).one()
    query = select(Enrollment, Lead).join(Lead, col(Lead.id) == Enrollment.lead_id).where(*where)
    if coverage.enrolled > sample:
        query = query.order_by(func.random())
    rows = session.exec(query.limit(sample)).all()
    coverage.enrolled_checked = len(rows)
    finished = _finished_steps(session, [enrollment.id for enrollment, _ in rows])
    failures = []
    for enrollment, lead in rows:
        spec = versions.get(session, enrollment.version)
        ahead = [s for s in spec.steps if (enrollment.id, s.id) not in finished]
        found = check.first_failure(spec, ahead, lead.template_context(), enrollment.current_owner)
        if found:
            failures.append(LeadFailure(lead.email, coverage.sequence, *found))
    return failures


def _finished_steps(session: Session, enrollment_ids: list[int | None]) -> set[tuple[int, str]]:
    finished: set[tuple[int, str]] = set()
    for chunk in _chunks(enrollment_ids):
        rows = session.exec(
            select(Touch.enrollment_id, Touch.step).where(
                col(Touch.enrollment_id).in_(chunk), col(Touch.status).in_(FINAL)
            )
        ).all()
        finished |= {(enrollment_id, step) for enrollment_id, step in rows if enrollment_id}
    return finished


def _waiting(
    session: Session,
    check: _Check,
    spec: SequenceSpec,
    versions: VersionStore,
    coverage: Coverage,
    sample: int,
) -> list[LeadFailure]:
    """Trigger events not applied yet: every step, for the lead as the event would leave it."""
    where = (col(Event.processed_at).is_(None), col(Event.type).in_(spec.trigger))
    coverage.waiting = session.exec(select(func.count()).where(*where)).one()
    query = select(Event).where(*where)
    if coverage.waiting > sample:
        query = query.order_by(func.random())
    events = session.exec(query.limit(sample)).all()
    coverage.waiting_checked = len(events)
    emails = sorted({event.lead_email for event in events})
    stored = {
        lead.email: lead
        for chunk in _chunks(emails)
        for lead in session.exec(select(Lead).where(col(Lead.email).in_(chunk)))
    }
    refused = enrollment_refusals(session, list(stored.values()), spec, versions)
    failures, seen = [], set()
    for event in events:
        lead = stored.get(event.lead_email)
        if event.lead_email in seen or (lead is not None and lead.id in refused):
            continue
        seen.add(event.lead_email)
        draft = _as_applied(lead, event)
        found = check.first_failure(spec, spec.steps, draft.template_context(), draft.owner)
        if found:
            failures.append(LeadFailure(draft.email, spec.name, *found, waiting=True))
    return failures


def _chunks(items: list[T]) -> Iterator[list[T]]:
    """At most LEAD_CHECK_IDS_PER_QUERY items at a time, for IN (...) lists."""
    for start in range(0, len(items), LEAD_CHECK_IDS_PER_QUERY):
        yield items[start : start + LEAD_CHECK_IDS_PER_QUERY]


def _as_applied(stored: Lead | None, event: Event) -> Lead:
    """The lead as applying the event would store it, without touching the stored row."""
    if stored is not None:
        draft = Lead(**stored.model_dump(exclude={"id"}))
    else:
        at = event.received_at
        draft = Lead(email=event.lead_email, fields={}, created_at=at, updated_at=at)
    data = EventIn.model_validate(event.payload).lead
    try:
        merge_lead_data(draft, data)
    except FieldsTooLarge:  # applying drops the event's fields (worker/flow/leads.py)
        merge_lead_data(draft, data.model_copy(update={"fields": {}}))
    return draft
