"""POST /events: store the event (one small insert, committed), then hand its id over, or
carry it out in the same transaction when no worker shares the process."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from sqlmodel import Session

from models.event import Event
from models.validation import FieldsTooLarge
from worker.api.auth import AUTH_RESPONSES, require_scope
from worker.api.deps import Rt, invalid
from worker.api.gate import GatedRoute
from worker.api.schemas import EventAccepted, EventBody
from worker.engine.db import transaction
from worker.engine.runtime import Runtime
from worker.flow.events import apply_event, record_event
from worker.flow.leads import check_fields_fit

log = logging.getLogger("followup.api")
router = APIRouter(
    route_class=GatedRoute,
    tags=["events"],
    dependencies=[Depends(require_scope("events:write"))],
    responses=AUTH_RESPONSES,
)


@router.post("/events", status_code=202, response_model=EventAccepted)
def accept_event(event: EventBody, rt: Rt, request: Request) -> EventAccepted:
    """Accept a lead event (SPEC section 7); the same `id` twice is one event.

    Without workers in this process the event is also carried out, in the same transaction
    behind a savepoint: a failure there leaves the event stored for the scheduler to apply."""
    inline = bool(request.app.state.process_inline)
    if inline:
        rt.refresh_catalog()
    processed = False
    with transaction(rt.engine) as session:
        try:
            check_fields_fit(session, event.lead)
        except FieldsTooLarge as exc:
            raise invalid(("body", "lead", "fields"), str(exc)) from None
        row, created = record_event(session, event, now=rt.clock.now())
        if created and inline:
            processed = _apply_in_savepoint(rt, session, row)
    assert row.id is not None
    if not created:
        return EventAccepted(
            id=row.id, key=row.key, status="duplicate", processed=row.processed_at is not None
        )
    if not inline:
        try:
            rt.enqueue_event(row.id)
        except Exception:  # the row is committed: the scheduler re-applies it
            log.warning(
                "event %s stored but not enqueued; the scheduler will apply it",
                row.id,
                exc_info=True,
            )
    return EventAccepted(id=row.id, key=row.key, status="accepted", processed=processed)


def _apply_in_savepoint(rt: Runtime, session: Session, row: Event) -> bool:
    """apply_event behind a savepoint: on any error only the event's insert is kept."""
    try:
        with session.begin_nested():
            apply_event(session, row, catalog=rt.catalog, versions=rt.versions, now=rt.clock.now())
    except Exception:  # stored and unprocessed: the scheduler retries it
        log.exception("event %s stored but not applied; the scheduler will retry it", row.id)
        return False
    return True
