"""The whole pipeline in one process on a virtual clock: the embedded broker, real dramatiq
worker threads, and time moved from one due moment to the next. `followup demo`, the test
harness and the benchmarks all drive followup through this one loop."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

import dramatiq

from models.event import EventIn
from worker.engine.actors import Actors, declare_actors
from worker.engine.broker import EVENT_QUEUE, TOUCH_QUEUE, make_broker
from worker.engine.clock import VirtualClock
from worker.engine.db import reading, transaction
from worker.engine.runtime import Runtime
from worker.engine.scheduler_loop import TickResult, tick
from worker.engine.tunables import WEBHOOK_TIMEOUT_SECONDS
from worker.flow.events import EventOutcome, apply_event, record_event
from worker.flow.tick_agenda import next_wakeup
from worker.notify.loop import Notifier


@dataclass(frozen=True)
class ScenarioEvent:
    """A lead event of a scenario and the virtual time it happens at."""

    at: datetime
    event: EventIn


class Companion(Protocol):
    """Something else that happens on the virtual clock (the demo's inbox answering)."""

    def run(self, now: datetime) -> None: ...

    def next_at(self) -> datetime | None: ...


class Simulation:
    """Runtime + virtual clock + embedded broker + worker threads; start() before driving it."""

    def __init__(
        self,
        rt: Runtime,
        clock: VirtualClock,
        *,
        threads: int = 2,
        worker_timeout_ms: int = 20,
        notifier_timeout: float = WEBHOOK_TIMEOUT_SECONDS,
        notify_inline: bool = True,
    ) -> None:
        """`worker_timeout_ms` is how often idle workers look for messages (dramatiq's option);
        alerts and webhooks go out after each tick unless `notify_inline` is off (a test that
        runs its own notifier thread)."""
        if rt.clock is not clock:
            raise ValueError("the runtime must run on the simulation's virtual clock")
        self.rt, self.clock = rt, clock
        self.broker: dramatiq.Broker = make_broker(rt.settings)
        self.actors: Actors = declare_actors(self.broker, rt)
        self.worker = dramatiq.Worker(
            self.broker, worker_threads=threads, worker_timeout=worker_timeout_ms
        )
        self.notifier = Notifier(rt, threads=2, timeout=notifier_timeout)
        self.notify_inline = notify_inline

    def start(self) -> Simulation:
        self.worker.start()
        return self

    def stop(self) -> None:
        self.worker.stop()
        self.notifier.close()

    def __enter__(self) -> Simulation:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def receive(self, event: EventIn) -> EventOutcome:
        """Record and apply one event now, as `followup events send` does."""
        now = self.clock.now()
        with transaction(self.rt.engine) as session:
            row, _ = record_event(session, event, now=now)
            return apply_event(
                session, row, catalog=self.rt.catalog, versions=self.rt.versions, now=now
            )

    def tick(self) -> TickResult:
        """One scheduler pass, then wait until the workers have handled every message; while
        MAX_IN_FLIGHT held due touches back, claim again at the same instant (counted in
        `enqueued`), as the real loop does a tick later."""
        result = tick(self.rt)
        self.drain()
        more = result
        while more.capped and more.enqueued:
            more = tick(self.rt)
            self.drain()
            result.enqueued += more.enqueued
        team = self.rt.catalog.team
        if self.notify_inline and (team.alerts or team.webhooks):
            self.notifier.drain()  # the alerts and webhook events this tick raised
        return result

    def drain(self) -> None:
        """Block until both queues are empty and no worker is busy."""
        self.broker.join(TOUCH_QUEUE)
        self.broker.join(EVENT_QUEUE)
        self.worker.join()

    def run_until(
        self,
        until: datetime,
        *,
        scenario: Iterable[ScenarioEvent] = (),
        on_day: Callable[[date], None] | None = None,
        companions: Sequence[Companion] = (),
    ) -> None:
        """Move time to `until`, stopping at every due touch, deadline, scenario event and
        companion's moment on the way (and at `until` itself); `on_day` gets each finished day,
        before the next one starts."""
        pending = iter(sorted(scenario, key=lambda happening: happening.at))
        upcoming = next(pending, None)
        day = self.clock.now().date()
        while True:
            now = self.clock.now()
            if on_day is not None and now.date() != day:
                on_day(day)
                day = now.date()
            while upcoming is not None and upcoming.at <= now:
                self.receive(upcoming.event)
                upcoming = next(pending, None)
            for companion in companions:
                companion.run(now)
            self.tick()
            if now >= until:
                break
            ahead = [upcoming.at if upcoming else None, *(c.next_at() for c in companions)]
            self.clock.move_to(min(self._next_moment(ahead, now, until, on_day), until))
        if on_day is not None:
            on_day(day)

    def _next_moment(
        self,
        ahead: list[datetime | None],
        now: datetime,
        until: datetime,
        on_day: Callable[[date], None] | None,
    ) -> datetime:
        """The next wake-up or moment `ahead`; with nothing ahead, `until` (a day on, to report
        days)."""
        with reading(self.rt.engine) as session:
            candidates = [next_wakeup(session), *ahead]
        future = [moment for moment in candidates if moment is not None and moment > now]
        if future:
            return min(future)
        return now + timedelta(days=1) if on_day is not None else until
