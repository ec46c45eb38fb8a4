"""Thin dramatiq actors: they take an id and call a use-case; "already done" is done."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import dramatiq

from models.event import Event
from worker.engine.broker import EVENT_QUEUE, TOUCH_QUEUE, enqueueing_together
from worker.engine.db import transaction
from worker.engine.logs import log_context
from worker.engine.runtime import Runtime
from worker.engine.tunables import send_bounds
from worker.flow.delivery import deliver_touch, deliver_touches
from worker.flow.events import apply_event

log = logging.getLogger("followup.actors")


def send_touch(rt: Runtime, touch_id: int) -> None:
    deliver_touch(rt, touch_id)  # logs the outcome itself, with the touch's ids


def send_touches(rt: Runtime, touch_ids: list[int]) -> None:
    """A deep backlog's batch: claimed in one transaction, sent one after the other, recorded in
    one (a savepoint a touch, so one that breaks stops none of the rest)."""
    deliver_touches(rt, touch_ids)  # logs each outcome itself, with the touch's ids


def process_event(rt: Runtime, event_id: int) -> None:
    rt.refresh_catalog()
    with log_context(event_id=event_id), transaction(rt.engine) as session:
        row = session.get(Event, event_id)
        if row is not None:
            apply_event(session, row, catalog=rt.catalog, versions=rt.versions, now=rt.clock.now())


@dataclass(frozen=True)
class Actors:
    send_touch: dramatiq.Actor
    send_touches: dramatiq.Actor
    process_event: dramatiq.Actor


def declare_actors(broker: dramatiq.Broker, rt: Runtime) -> Actors:
    """Bind the actors to `broker` and to `rt`, and point the runtime's enqueue hooks at them.

    Each actor reaches the runtime it was declared with, so two runtimes in one process (tests,
    the demo beside a harness) never share one. No dramatiq retries: a failed message leaves its
    row claimed, and the lease sweeper re-drives it from the database, so Redis never has to
    keep a message for long. The time limit is shorter than the sending lease (SendBounds), so
    a send that is still running is never re-driven to a second worker.
    """
    time_limit_ms = int(send_bounds(rt.settings.lease_seconds).time_limit.total_seconds() * 1000)
    options: dict[str, Any] = {"broker": broker, "max_retries": 0, "time_limit": time_limit_ms}

    def send_touch_of_rt(touch_id: int) -> None:
        send_touch(rt, touch_id)

    def send_touches_of_rt(touch_ids: list[int]) -> None:
        send_touches(rt, touch_ids)

    def process_event_of_rt(event_id: int) -> None:
        process_event(rt, event_id)

    actors = Actors(
        send_touch=dramatiq.actor(actor_name="send_touch", queue_name=TOUCH_QUEUE, **options)(
            send_touch_of_rt
        ),
        send_touches=dramatiq.actor(actor_name="send_touches", queue_name=TOUCH_QUEUE, **options)(
            send_touches_of_rt
        ),
        process_event=dramatiq.actor(actor_name="process_event", queue_name=EVENT_QUEUE, **options)(
            process_event_of_rt
        ),
    )
    rt.enqueue_touch = actors.send_touch.send
    rt.enqueue_touches = actors.send_touches.send
    rt.enqueue_event = actors.process_event.send
    rt.enqueue_together = enqueueing_together(broker)
    return actors
