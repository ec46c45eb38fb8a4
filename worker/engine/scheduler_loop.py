"""The scheduler loop: re-drive lost work, claim and enqueue due touches, record deadlines."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from worker.compliance.recording import evaluate_due_deadlines
from worker.engine.db import checkpoint, reading, transaction
from worker.engine.metrics import (
    CLAIM_BATCH_SIZE,
    REDRIVEN,
    SCHEDULER_LAST_TICK,
    SCHEDULER_TICK_SECONDS,
    SCHEDULER_TICKS,
)
from worker.engine.runtime import Runtime
from worker.engine.tunables import (
    CLAIM_BATCH,
    CLAIM_GAP_SECONDS,
    DUE_LOOK_SECONDS,
    MAX_REDRIVES,
    QUEUED_LEASE,
    SCHEDULER_STUCK_AFTER,
    STALE_EVENT_BATCH,
    TOUCH_BATCH,
    TOUCH_BATCH_DEEP,
    lease,
)
from worker.flow.escalation import escalate_due
from worker.flow.guardrails import GuardrailWatch, check_guardrails
from worker.flow.holding import release_holds
from worker.flow.manual_tasks import skip_expired_tasks
from worker.flow.reassignment import reassign_due
from worker.flow.redrive import redrive_expired_leases
from worker.flow.scheduling import any_due, claim_due, count_in_flight
from worker.flow.stale_events import apply_stale_events
from worker.flow.tick_agenda import TickAgenda, Work, next_touch_due, read_agenda
from worker.notify.pause_alerts import tell_paused

log = logging.getLogger("followup.scheduler")


@dataclass
class TickResult:
    redriven: int = 0
    abandoned: int = 0  # failed: lost mid-send once more after MAX_REDRIVES re-drives
    enqueued: int = 0
    capped: bool = False  # MAX_IN_FLIGHT touches queued or sending: the rest wait a tick
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
        counts = (self.redriven, self.abandoned, self.enqueued, self.verdicts, self.events)
        extra = (self.skipped_tasks, self.released_holds, self.paused, self.at_risk, self.alerts)
        return any((*counts, *extra, self.reassigned))


def tick(rt: Runtime, watch: GuardrailWatch | None = None) -> TickResult:
    """One pass; safe to run from several processes at once (every step is a compare-and-set).
    `watch` spares the long-running loop needless guardrail counts; without one they run. A
    phase whose moment has not come (the agenda, read without a write lock) is skipped, unless
    an earlier phase of this tick made work for it."""
    result = TickResult()
    now = rt.clock.now()
    with reading(rt.engine) as session:
        agenda = read_agenda(session, now=now)
    if agenda.due(Work.LEASE_ENDS):
        _redrive(rt, result, now)
    with transaction(rt.engine) as session:  # before claiming: a paused mailbox holds its touches
        if watch is None or watch.due(session, now=now):
            paused = check_guardrails(session, rt.catalog.team.guardrails, now=now)
            result.paused = len(paused)
            result.alerts += tell_paused(session, paused, team=rt.catalog.team, now=now)
    if agenda.due(Work.HOLD_ENDS):
        with transaction(rt.engine) as session:  # before claiming: released touches may be due
            result.released_holds = release_holds(session, versions=rt.versions, now=now)
    if agenda.due(Work.TOUCH_DUE) or result.redriven or result.released_holds:
        queued_lease = lease(QUEUED_LEASE, rt.settings.lease_seconds)
        result.enqueued, result.capped = claim_and_enqueue(rt, now=now, lease_for=queued_lease)
    _record_deadlines(rt, result, agenda)
    if agenda.due(Work.EVENT_STALE):
        result.events = process_stale_events(rt)
    return result


def _redrive(rt: Runtime, result: TickResult, now: datetime) -> None:
    with transaction(rt.engine) as session:
        redrive = redrive_expired_leases(session, now=now, versions=rt.versions)
        result.redriven, result.abandoned = redrive.redriven, redrive.abandoned
    REDRIVEN.inc(result.redriven)
    if result.abandoned:
        log.warning(
            "%d touch(es) failed: lost mid-send after %d re-drives (a send that hangs or kills "
            "its worker); see `followup status`",
            result.abandoned,
            MAX_REDRIVES,
        )


def _record_deadlines(rt: Runtime, result: TickResult, agenda: TickAgenda) -> None:
    """Verdicts, then escalation (a new breach escalates now), reassignment and expired tasks."""
    now, team = agenda.now, rt.catalog.team
    if agenda.due(Work.SLA_CHECK) or result.abandoned:  # a failed touch may decide a verdict
        with transaction(rt.engine) as session:
            result.verdicts = evaluate_due_deadlines(session, now)
    if agenda.due(Work.ALERT_CHECK) or result.verdicts:
        with transaction(rt.engine) as session:
            escalated = escalate_due(session, team=team, versions=rt.versions, now=now)
            result.at_risk = escalated.at_risk
            result.alerts += escalated.alerts
    if agenda.due(Work.REASSIGN) or result.verdicts:
        with transaction(rt.engine) as session:
            result.reassigned = reassign_due(session, team=team, now=now)
    if agenda.due(Work.TASK_EXPIRES):
        with transaction(rt.engine) as session:
            result.skipped_tasks = skip_expired_tasks(session, versions=rt.versions, now=now)


def claim_and_enqueue(rt: Runtime, *, now: datetime, lease_for: timedelta) -> tuple[int, bool]:
    """Claim due touches in batches while fewer than `settings.max_in_flight` are queued or
    sending, enqueueing each batch once it is committed; (how many, whether the cap held some
    back). A backlog drains at the workers' pace instead of piling ids up in Redis. A batch
    short of its limit was the last one due, and so is a full one when no touch is left due
    (one probe): no empty claim transaction to find that out."""
    enqueued = 0
    while True:
        with transaction(rt.engine) as session:  # counted with each claim: others claim too
            room = rt.settings.max_in_flight - count_in_flight(session)
            if room <= 0:
                return enqueued, True
            limit = min(CLAIM_BATCH, room)
            claimed = claim_due(session, now=now, limit=limit, lease_for=lease_for)
            ids = claimed.ids
            more = len(ids) == limit and any_due(session, now=now)
        # Committed first: a lost message is re-driven, never half-claimed; the messages go to
        # the broker in one round trip. A claim that filled its limit (the batch or the cap's
        # room) left more due behind: a backlog, batched.
        with rt.enqueue_together():
            enqueue_claimed(rt, ids, backlog=len(ids) == limit, alone=claimed.redriven)
        if ids:
            log.info("queued %d due touches", len(ids), extra={"touch_ids": ids})
            CLAIM_BATCH_SIZE.observe(len(ids))
        enqueued += len(ids)
        if not more:
            return enqueued, False


def enqueue_claimed(
    rt: Runtime, ids: list[int], *, backlog: bool = False, alone: Collection[int] = ()
) -> None:
    """One message an id, so a touch that falls due alone goes at once; for a backlog
    (TOUCH_BATCH_DEEP ids claimed at once, or a claim that more due touches were behind than it
    could take), TOUCH_BATCH ids a message: fewer round trips to the broker, and a batch claimed
    and recorded in one transaction each, paced against the time limit (flow/send_pacing.py).
    The ids `alone` (re-driven after a lost send) go one a message all the same: a render that
    hung with its batch-mates would otherwise hang with them again when they come back."""
    deep = backlog or len(ids) >= TOUCH_BATCH_DEEP
    if TOUCH_BATCH <= 1 or not deep or rt.enqueue_touches is None:
        for touch_id in ids:
            rt.enqueue_touch(touch_id)
        return
    for touch_id in (i for i in ids if i in alone):
        rt.enqueue_touch(touch_id)
    ids = [i for i in ids if i not in alone]
    if not ids:
        return
    messages = -(-len(ids) // TOUCH_BATCH)  # as few as TOUCH_BATCH allows, as even as can be:
    size = -(-len(ids) // messages)  # 12 ids go 6 + 6, not 10 + 2 (the last waits 5 sends)
    for start in range(0, len(ids), size):
        rt.enqueue_touches(ids[start : start + size])


def process_stale_events(rt: Runtime, *, limit: int = STALE_EVENT_BATCH) -> int:
    """Events accepted by the API whose message was lost are applied here, each on its own."""
    with transaction(rt.engine) as session:
        return apply_stale_events(
            session, catalog=rt.catalog, versions=rt.versions, now=rt.clock.now(), limit=limit
        )


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
        result: TickResult | None = None
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
        next_tick = time.monotonic() + rt.settings.tick_seconds
        _checkpoint(rt)
        if result is not None:  # a failed tick waits for the next one, as it always did
            claim_between_ticks(rt, stop, until=next_tick, capped=result.capped)
        stop.wait(max(0.0, next_tick - time.monotonic()))


def _checkpoint(rt: Runtime) -> None:
    """The tick's writes (and the workers') copied back from SQLite's WAL once its claims are
    enqueued: a claim's commit then leaves its pages in the WAL and returns."""
    try:
        checkpoint(rt.engine)
    except Exception:  # as a tick's: logged, never fatal; the WAL's own bound still holds
        log.exception("WAL checkpoint failed; retrying after the next tick")


def claim_between_ticks(rt: Runtime, stop: threading.Event, *, until: float, capped: bool) -> None:
    """Until the next tick, claim again (no more often than CLAIM_GAP_SECONDS) when a waiting
    touch falls due, or while the in-flight cap holds due ones back as the workers make room:
    a touch waits ~0.1 s to be queued, not a tick, and the cap bounds what waits in Redis but
    not the send rate. With nothing due sooner, it looks again every DUE_LOOK_SECONDS: a touch
    another process made due (an API event, an import, another scheduler's retry) is claimed
    then, not at the next tick. Only the claim: the tick's other phases wait for the next tick."""
    queued_lease = lease(QUEUED_LEASE, rt.settings.lease_seconds)
    try:
        while not stop.is_set():
            due_in = CLAIM_GAP_SECONDS if capped else _seconds_to_next_due(rt)
            wait = DUE_LOOK_SECONDS if due_in is None else min(due_in, DUE_LOOK_SECONDS)
            claim = wait == due_in  # else nothing is due that soon: only look again
            wait = max(wait, CLAIM_GAP_SECONDS)
            if time.monotonic() + wait >= until or stop.wait(wait):
                return
            if claim:
                _, capped = claim_and_enqueue(rt, now=rt.clock.now(), lease_for=queued_lease)
    except Exception:  # as a tick's: logged, never fatal; the next tick tries again
        log.exception("claim between ticks failed; retrying next tick")


def _seconds_to_next_due(rt: Runtime) -> float | None:
    with reading(rt.engine) as session:
        due = next_touch_due(session)
    return None if due is None else max(0.0, (due - rt.clock.now()).total_seconds())
