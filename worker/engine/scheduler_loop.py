"""The scheduler loop: re-drive lost work, claim and enqueue due touches, record deadlines."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from sqlmodel import col, select

from models.event import Event
from worker.compliance.recording import evaluate_due_deadlines
from worker.engine.db import transaction
from worker.engine.metrics import (
    CLAIM_BATCH_SIZE,
    REDRIVEN,
    SCHEDULER_LAST_TICK,
    SCHEDULER_TICK_SECONDS,
    SCHEDULER_TICKS,
)
from worker.engine.runtime import Runtime
from worker.engine.tunables import (
    QUEUED_LEASE,
    SCHEDULER_STUCK_AFTER,
    STALE_EVENT_AFTER,
    STALE_EVENT_BATCH,
    lease,
)
from worker.flow.escalation import escalate_due
from worker.flow.events import apply_event
from worker.flow.guardrails import GuardrailWatch, check_guardrails
from worker.flow.holding import release_holds
from worker.flow.manual_tasks import skip_expired_tasks
from worker.flow.reassignment import reassign_due
from worker.flow.scheduling import claim_due_touches, redrive_expired_leases
from worker.notify.pause_alerts import tell_paused

log = logging.getLogger("followup.scheduler")


@dataclass
class TickResult:
    redriven: int = 0
    enqueued: int = 0
    verdicts: int = 0
    at_risk: int = 0
    alerts: int = 0
    reassigned: int = 0
    events: int = 0
    skipped_tasks: int = 0
    released_holds: int = 0
    paused: int = 0  # mailboxes and sequences the guardrails paused

    @property
    def busy(self) -> bool:
        counts = (self.redriven, self.enqueued, self.verdicts, self.events, self.skipped_tasks)
        extra = (self.released_holds, self.paused, self.at_risk, self.alerts, self.reassigned)
        return any((*counts, *extra))


def tick(rt: Runtime, watch: GuardrailWatch | None = None) -> TickResult:
    """One pass; safe to run from several processes at once (every step is a compare-and-set).
    `watch` spares the long-running loop needless guardrail counts; without one they run."""
    result = TickResult()
    now = rt.clock.now()
    queued_lease = lease(QUEUED_LEASE, rt.settings.lease_seconds)
    with transaction(rt.engine) as session:
        result.redriven = redrive_expired_leases(session, now=now)
    with transaction(rt.engine) as session:  # before claiming: a paused mailbox holds its touches
        if watch is None or watch.due(session, now=now):
            paused = check_guardrails(session, rt.catalog.team.guardrails, now=now)
            result.paused = len(paused)
            result.alerts += tell_paused(session, paused, team=rt.catalog.team, now=now)
    REDRIVEN.inc(result.redriven)
    with transaction(rt.engine) as session:  # before claiming: released touches may be due
        result.released_holds = release_holds(session, versions=rt.versions, now=now)
    while True:
        with transaction(rt.engine) as session:
            ids = claim_due_touches(session, now=now, lease_for=queued_lease)
        for touch_id in ids:  # committed first: a lost message is re-driven, never half-claimed
            rt.enqueue_touch(touch_id)
        if ids:
            log.info("queued %d due touches", len(ids), extra={"touch_ids": ids})
        result.enqueued += len(ids)
        if not ids:
            break
        CLAIM_BATCH_SIZE.observe(len(ids))
    with transaction(rt.engine) as session:
        result.verdicts = evaluate_due_deadlines(session, now)
    team = rt.catalog.team
    with transaction(rt.engine) as session:  # after the verdicts: a new breach escalates now
        escalated = escalate_due(session, team=team, versions=rt.versions, now=now)
        result.at_risk = escalated.at_risk
        result.alerts += escalated.alerts
    with transaction(rt.engine) as session:
        result.reassigned = reassign_due(session, team=team, now=now)
    with transaction(rt.engine) as session:
        result.skipped_tasks = skip_expired_tasks(session, versions=rt.versions, now=now)
    result.events = process_stale_events(rt)
    return result


def process_stale_events(rt: Runtime, *, limit: int = STALE_EVENT_BATCH) -> int:
    """Events accepted by the API whose message was lost are applied here."""
    now = rt.clock.now()
    with transaction(rt.engine) as session:
        rows = session.exec(
            select(Event)
            .where(
                col(Event.processed_at).is_(None), col(Event.received_at) <= now - STALE_EVENT_AFTER
            )
            .order_by(col(Event.id))
            .limit(limit)
        ).all()
        for row in rows:
            apply_event(session, row, catalog=rt.catalog, versions=rt.versions, now=now)
    return len(rows)


@dataclass
class Heartbeat:
    """When the loop last finished a pass: readiness fails once it stops beating."""

    last: float | None = None

    def beat(self) -> None:
        self.last = time.monotonic()

    def check(self, tick_seconds: float) -> tuple[bool, str]:
        if self.last is None:
            return True, "starting"
        limit = max(SCHEDULER_STUCK_AFTER.total_seconds(), 10 * tick_seconds)
        age = time.monotonic() - self.last
        return age <= limit, f"last pass {age:.0f}s ago" + ("" if age <= limit else " (stuck?)")


def run_scheduler(rt: Runtime, stop: threading.Event, heartbeat: Heartbeat | None = None) -> None:
    """Tick every FOLLOWUP_TICK_SECONDS until `stop` is set; errors are logged, never fatal."""
    log.info("scheduler started (tick %.1fs)", rt.settings.tick_seconds)
    beats = heartbeat or Heartbeat()
    watch = GuardrailWatch()
    while not stop.is_set():
        started = time.monotonic()
        try:
            rt.refresh_catalog()
            result = tick(rt, watch)
            if result.busy:
                log.info("tick: %s", result)
        except Exception:  # a database hiccup must not kill the loop
            SCHEDULER_TICKS.labels(result="error").inc()
            log.exception("scheduler tick failed; retrying next tick")
        else:
            SCHEDULER_TICKS.labels(result="ok").inc()
            SCHEDULER_TICK_SECONDS.observe(time.monotonic() - started)
            SCHEDULER_LAST_TICK.set_to_current_time()
            beats.beat()
        stop.wait(rt.settings.tick_seconds)
