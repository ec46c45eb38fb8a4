"""`followup demo`: two simulated weeks of the pipeline on the embedded defaults, in seconds."""

from __future__ import annotations

import csv
import random
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dramatiq
from sqlmodel import col, func, select

from models.event import EventIn
from models.lead import LEAD_COLUMNS, LeadIn
from models.notification import AlertStatus, SlaAlert
from models.touch import Touch
from worker.engine.actors import declare_actors
from worker.engine.broker import EVENT_QUEUE, TOUCH_QUEUE, make_broker
from worker.engine.clock import VirtualClock
from worker.engine.db import reading, transaction
from worker.engine.runtime import Runtime, build_runtime
from worker.engine.scheduler_loop import tick
from worker.engine.settings import Settings
from worker.flow.events import apply_event, record_event
from worker.flow.scheduling import next_wakeup
from worker.notify.loop import Notifier

DEMO_START = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)  # a Monday, 08:00 in New York
DEMO_DAYS = 16
WORKER_THREADS = 4


@dataclass(frozen=True)
class ScenarioEvent:
    """A lead event of the demo's scenario and when it happens."""

    at: datetime
    event: EventIn


def demo_settings(base: Settings, folder: Path) -> Settings:
    """The embedded defaults in a throw-away folder, whatever the environment says."""
    return base.with_(
        database_url=f"sqlite:///{folder / 'followup.db'}",
        redis_url=None,
        smtp_url=None,
        outbox_dir=folder / "outbox",
        secret_key=base.secret_key or secrets.token_urlsafe(32),
        default_from=base.default_from or "Acme Sales <sales@acme.test>",
    )


def scenario(leads_csv: Path, start: datetime, seed: int = 7) -> list[ScenarioEvent]:
    """Leads arriving over a day and a half; some reply, book, unsubscribe or get a call."""
    rng = random.Random(seed)
    events: list[ScenarioEvent] = []
    with leads_csv.open(encoding="utf-8-sig", newline="") as handle:
        for index, row in enumerate(csv.DictReader(handle)):
            columns = {name: row.get(name) or None for name in LEAD_COLUMNS}
            lead = LeadIn.model_validate({**columns, "fields": {"source": row.get("source", "")}})
            arrives = start + timedelta(minutes=47 * index)
            events.append(
                ScenarioEvent(arrives, EventIn(type="lead.mql", lead=lead, id=f"demo-mql-{index}"))
            )
            roll = rng.random()
            if roll < 0.2:
                events.append(_later(arrives, rng.uniform(2, 5), "email.replied", lead, index))
            elif roll < 0.3:
                events.append(_later(arrives, rng.uniform(1, 3), "meeting.booked", lead, index))
            elif roll < 0.38:
                events.append(_later(arrives, 3, "lead.unsubscribed", lead, index))
            if index % 6 == 0:
                signup = arrives + timedelta(hours=1)
                events.append(
                    ScenarioEvent(
                        signup,
                        EventIn(
                            type="form.submitted",
                            lead=LeadIn(email=lead.email),
                            id=f"demo-form-{index}",
                        ),
                    )
                )
                if index % 12 == 0:  # the rep makes the call a day later
                    done = EventIn(
                        type="task.completed",
                        lead=LeadIn(email=lead.email),
                        step="call",
                        id=f"demo-call-{index}",
                    )
                    events.append(ScenarioEvent(signup + timedelta(days=1, hours=3), done))
    return sorted(events, key=lambda s: s.at)


def _later(arrives: datetime, days: float, kind: str, lead: LeadIn, index: int) -> ScenarioEvent:
    event = EventIn(type=kind, lead=LeadIn(email=lead.email), id=f"demo-{kind}-{index}")
    return ScenarioEvent(arrives + timedelta(days=days), event)


def simulate(
    rt: Runtime,
    clock: VirtualClock,
    broker: dramatiq.Broker,
    events: list[ScenarioEvent],
    until: datetime,
    on_day: Callable[[date], None] = lambda _day: None,
) -> None:
    """Advance virtual time from one happening to the next; `on_day` gets each finished day."""
    worker = dramatiq.Worker(broker, worker_threads=WORKER_THREADS, worker_timeout=50)
    worker.start()
    notifier = Notifier(rt, threads=1)  # the demo's alerts go to the outbox like its emails
    pending: Iterator[ScenarioEvent] = iter(events)
    upcoming = next(pending, None)
    day = clock.now().date()
    try:
        while clock.now() < until:
            now = clock.now()
            if now.date() != day:  # report the finished day before anything of the new one
                on_day(day)
                day = now.date()
            while upcoming is not None and upcoming.at <= now:
                with transaction(rt.engine) as session:
                    row, _ = record_event(session, upcoming.event, now=now)
                    apply_event(session, row, catalog=rt.catalog, versions=rt.versions, now=now)
                upcoming = next(pending, None)
            tick(rt)
            broker.join(TOUCH_QUEUE)
            broker.join(EVENT_QUEUE)
            worker.join()
            notifier.drain()
            clock.move_to(min(_next_moment(rt, upcoming, now), until))
        on_day(day)
    finally:
        worker.stop()
        notifier.close()


def _next_moment(rt: Runtime, upcoming: ScenarioEvent | None, now: datetime) -> datetime:
    with reading(rt.engine) as session:
        candidates = [next_wakeup(session)]
    if upcoming is not None:
        candidates.append(upcoming.at)
    future = [c for c in candidates if c is not None and c > now]
    return min(future) if future else now + timedelta(days=1)


def prepare(base: Settings, folder: Path) -> tuple[Runtime, VirtualClock, dramatiq.Broker]:
    """A fresh folder, runtime, virtual clock and embedded broker with the actors declared."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    settings = demo_settings(base, folder)
    clock = VirtualClock(DEMO_START)
    rt = build_runtime(settings, clock=clock)
    broker = make_broker(settings)
    declare_actors(broker, rt)
    return rt, clock, broker


def counts_by_status(rt: Runtime) -> dict[str, int]:
    with reading(rt.engine) as session:
        rows = session.exec(select(Touch.status, func.count()).group_by(col(Touch.status))).all()
    return {str(status): int(n) for status, n in rows}


def alerts_by_level(rt: Runtime) -> dict[str, int]:
    """Alerts that went out, by level (at_risk.*, breached, reassigned)."""
    with reading(rt.engine) as session:
        rows = session.exec(
            select(SlaAlert.level, func.count())
            .where(SlaAlert.status == AlertStatus.SENT)
            .group_by(col(SlaAlert.level))
        ).all()
    return {str(level): int(n) for level, n in rows}
