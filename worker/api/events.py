"""POST /events: store the event (one small insert, committed), then hand its id over: to the
broker's workers, or, when none shares the process (`followup api` alone), to the process's
event applier (worker/engine/event_applier.py), which applies stored events in batches."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request

from models.validation import FieldsTooLarge
from worker.api.auth import AUTH_RESPONSES, require_scope
from worker.api.deps import Rt, invalid
from worker.api.gate import GatedRoute
from worker.api.schemas import EventAccepted, EventBody
from worker.engine.db import transaction
from worker.flow.events import store_event
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

    202 once the event is stored: `processed` says whether it has been carried out yet (a
    duplicate's may be true). Stored and not handed over, it is applied by the scheduler."""
    with transaction(rt.engine) as session:
        try:
            check_fields_fit(session, event.lead)
        except FieldsTooLarge as exc:
            raise invalid(("body", "lead", "fields"), str(exc)) from None
        stored = store_event(session, event, now=rt.clock.now())
    if not stored.created:
        return EventAccepted(
            id=stored.id, key=event.id, status="duplicate", processed=stored.processed
        )
    applier = getattr(request.app.state, "event_applier", None)
    try:
        if applier is not None:
            applier.submit(stored.id)
        else:
            rt.enqueue_event(stored.id)
    except Exception:  # the row is committed: the scheduler re-applies it
        log.warning(
            "event %s stored but not enqueued; the scheduler will apply it",
            stored.id,
            exc_info=True,
        )
    return EventAccepted(id=stored.id, key=event.id, status="accepted", processed=False)
