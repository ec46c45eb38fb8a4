"""Events accepted but never applied (their message was lost) are applied by the scheduler, each
in its own savepoint: one that always raises is counted, and after STALE_EVENT_MAX_FAILURES it is
`dead` with its error, so it never blocks the others."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from models.event import Event
from worker.engine.tunables import STALE_EVENT_AFTER, STALE_EVENT_BATCH, STALE_EVENT_MAX_FAILURES
from worker.flow.events import apply_event
from worker.specs.catalog import Catalog
from worker.specs.validation_errors import one_line
from worker.specs.versions import VersionStore

log = logging.getLogger("followup.events")


def apply_stale_events(
    session: Session,
    *,
    catalog: Catalog,
    versions: VersionStore,
    now: datetime,
    limit: int = STALE_EVENT_BATCH,
    max_failures: int = STALE_EVENT_MAX_FAILURES,
) -> int:
    """Apply the stale events (oldest first, dead ones left alone); returns how many were tried."""
    rows = session.exec(
        select(Event)
        .where(
            col(Event.processed_at).is_(None),
            col(Event.dead_at).is_(None),
            col(Event.received_at) <= now - STALE_EVENT_AFTER,
        )
        .order_by(col(Event.id))
        .limit(limit)
    ).all()
    apply_each(
        session, rows, catalog=catalog, versions=versions, now=now, max_failures=max_failures
    )
    return len(rows)


def apply_each(
    session: Session,
    rows: Sequence[Event],
    *,
    catalog: Catalog,
    versions: VersionStore,
    now: datetime,
    max_failures: int = STALE_EVENT_MAX_FAILURES,
) -> None:
    """Each event in its own savepoint: one that raises has its failure counted, the rest go on."""
    for row in rows:
        event_id = row.id
        try:
            with session.begin_nested():  # a failure rolls back this event only
                apply_event(session, row, catalog=catalog, versions=versions, now=now)
        except Exception as exc:  # any error in an event's meaning: counted, the rest go on
            assert event_id is not None  # a stored row has its id
            _count_failure(session, event_id, exc, now=now, max_failures=max_failures)


def failure_text(exc: Exception) -> str:
    """One line that says what is wrong: a payload's invalid fields by name, else the error."""
    if isinstance(exc, ValidationError):
        return f"invalid event: {one_line(exc)}"[:1000]
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:1000]


def _count_failure(
    session: Session, event_id: int, exc: Exception, *, now: datetime, max_failures: int
) -> None:
    error = failure_text(exc)
    session.execute(
        update(Event)
        .where(col(Event.id) == event_id)
        .values(failures=col(Event.failures) + 1, last_error=error)
    )
    failures = session.exec(select(Event.failures).where(Event.id == event_id)).one()
    if failures >= max_failures:
        session.execute(update(Event).where(col(Event.id) == event_id).values(dead_at=now))
        log.error("event %s is dead after %d failed attempts: %s", event_id, failures, error)
    else:
        log.warning("event %s failed (%d of %d): %s", event_id, failures, max_failures, error)


def dead_events(session: Session, *, latest: int = 5) -> tuple[int, list[str]]:
    """How many events are dead, and a line for each of the latest few (id, type, lead, error)."""
    is_dead = col(Event.dead_at).is_not(None)
    count = int(session.exec(select(func.count()).where(is_dead)).one())
    rows = session.exec(select(Event).where(is_dead).order_by(col(Event.id).desc()).limit(latest))
    lines = [f"event {e.id} {e.type} {e.lead_email}: {e.last_error}" for e in rows]
    return count, lines
