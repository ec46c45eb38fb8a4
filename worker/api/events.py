"""POST /events: store the event (one small insert, committed), then hand its id over: to the
broker's workers, or, when none shares the process (`followup api` alone), to the process's
event applier (worker/engine/event_applier.py), which applies stored events in batches."""

from __future__ import annotations

import logging
from datetime import datetime

from fastapi import APIRouter, Depends, Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from models.validation import FieldsTooLarge
from worker.api import loop_writes
from worker.api.auth import AUTH_RESPONSES, require_scope
from worker.api.deps import Rt, invalid
from worker.api.gate import GatedRoute
from worker.api.schemas import EventAccepted, EventBody
from worker.engine.db import transaction
from worker.flow.events import StoredEvent, store_event
from worker.flow.leads import check_fields_fit

log = logging.getLogger("followup.api")
router = APIRouter(
    route_class=GatedRoute,
    tags=["events"],
    dependencies=[Depends(require_scope("events:write"))],
    responses=AUTH_RESPONSES,
)


@router.post("/events", status_code=202, response_model=EventAccepted)
async def accept_event(event: EventBody, rt: Rt, request: Request) -> EventAccepted:
    """Accept a lead event (SPEC section 7); the same `id` twice is one event.

    202 once the event is stored: `processed` says whether it has been carried out yet (a
    duplicate's may be true). Stored and not handed over, it is applied by the scheduler."""
    # Async: the insert runs on the loop when it need not wait (loop_writes), the response is
    # validated there too (a sync route's is validated in the threadpool, another hand-off).
    now = rt.clock.now()
    stored = await loop_writes.write(rt.engine, lambda engine: _store(engine, event, now))
    if not stored.created:
        return EventAccepted(
            id=stored.id, key=event.id, status="duplicate", processed=stored.processed
        )
    applier = getattr(request.app.state, "event_applier", None)
    try:
        if applier is not None:
            applier.submit(stored.id)  # in memory: the applier's thread takes it from here
        else:
            await run_in_threadpool(rt.enqueue_event, stored.id)  # a round trip to Redis
    except Exception:  # the row is committed: the scheduler re-applies it
        log.warning(
            "event %s stored but not enqueued; the scheduler will apply it",
            stored.id,
            exc_info=True,
        )
    return EventAccepted(id=stored.id, key=event.id, status="accepted", processed=False)


def _store(engine: Engine, event: EventBody, now: datetime) -> StoredEvent:
    """The event stored (committed), or the one stored before under its key."""
    with transaction(engine) as session:
        try:
            check_fields_fit(session, event.lead)
        except FieldsTooLarge as exc:
            raise invalid(("body", "lead", "fields"), str(exc)) from None
        return store_event(session, event, now=now)
