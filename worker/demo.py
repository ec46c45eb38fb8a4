"""`followup demo`: two simulated weeks of the pipeline on the embedded defaults, in seconds."""

from __future__ import annotations

import csv
import random
import secrets
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import col, func, select

from models.event import EventIn
from models.lead import LEAD_COLUMNS, LeadIn
from models.notification import AlertStatus, SlaAlert
from models.touch import Touch
from worker.engine.clock import VirtualClock
from worker.engine.db import reading, transaction
from worker.engine.runtime import Runtime, build_runtime
from worker.engine.settings import Settings
from worker.engine.simulation import ScenarioEvent, Simulation
from worker.flow.guardrails import current_pauses, resume_sending

DEMO_START = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)  # a Monday, 08:00 in New York
DEMO_DAYS = 16
WORKER_THREADS = 4


def demo_settings(base: Settings, folder: Path) -> Settings:
    """The embedded defaults in a throw-away folder, whatever the environment says."""
    return base.with_(
        database_url=f"sqlite:///{folder / 'followup.db'}",
        redis_url=None,
        smtp_url=None,
        outbox_dir=folder / "outbox",
        inbox_dir=folder / "inbox",
        secret_key=secrets.token_urlsafe(32),  # throw-away links in a throw-away folder
        secret_keys=(),
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


def prepare(base: Settings, folder: Path) -> Simulation:
    """A fresh folder, and the runtime on a virtual clock with the embedded broker and workers."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    settings = demo_settings(base, folder)
    clock = VirtualClock(DEMO_START)
    rt = build_runtime(settings, clock=clock, schema="upgrade")
    return Simulation(rt, clock, threads=WORKER_THREADS, worker_timeout_ms=50)


def counts_by_status(rt: Runtime) -> dict[str, int]:
    with reading(rt.engine) as session:
        rows = session.exec(select(Touch.status, func.count()).group_by(col(Touch.status))).all()
    return {str(status): int(n) for status, n in rows}


class GuardrailReview:
    """The person the demo plays when the guardrails pause something: a day later they have
    looked, and resume it (`followup mailboxes resume NAME`), so the story goes on."""

    def __init__(self, rt: Runtime, after: timedelta = timedelta(days=1)) -> None:
        self.rt = rt
        self.after = after
        self.pending: dict[str, datetime] = {}  # name -> when it is resumed
        self.said: list[str] = []

    def next_at(self) -> datetime | None:
        return min(self.pending.values(), default=None)

    def run(self, now: datetime) -> None:
        with reading(self.rt.engine) as session:
            for pause in current_pauses(session):
                if pause.name not in self.pending:
                    self.pending[pause.name] = pause.paused_at + self.after
                    self.said.append(
                        f"{pause.paused_at:%a %d %b %H:%M} guardrails paused {pause.scope} "
                        f"{pause.name}: {pause.reason}"
                    )
        for name, at in sorted(self.pending.items()):
            if at <= now:
                with transaction(self.rt.engine) as session:
                    released = resume_sending(session, name, now=now, by="demo")
                del self.pending[name]
                self.said.append(
                    f"{now:%a %d %b %H:%M} `followup mailboxes resume {name}`: "
                    f"{released or 0} held touch(es) released"
                )


def alerts_by_level(rt: Runtime) -> dict[str, int]:
    """Alerts that went out, by level (at_risk.*, breached, reassigned)."""
    with reading(rt.engine) as session:
        rows = session.exec(
            select(SlaAlert.level, func.count())
            .where(SlaAlert.status == AlertStatus.SENT)
            .group_by(col(SlaAlert.level))
        ).all()
    return {str(level): int(n) for level, n in rows}
