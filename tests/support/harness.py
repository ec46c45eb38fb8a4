"""A whole followup on fakes: temp folders, SQLite, StubBroker with real dramatiq worker threads,
a MemoryMailer and a virtual clock. Flow tests drive time with it, never with sleep."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dramatiq
from sqlmodel import Session, col, select

from models.enrollment import Enrollment
from models.event import EventIn
from models.touch import Touch
from worker.engine.actors import Actors, declare_actors
from worker.engine.broker import EVENT_QUEUE, TOUCH_QUEUE, make_broker
from worker.engine.clock import VirtualClock
from worker.engine.db import transaction
from worker.engine.runtime import Runtime, build_runtime
from worker.engine.scheduler_loop import TickResult, tick
from worker.engine.settings import Settings
from worker.engine.tunables import WEBHOOK_TIMEOUT_SECONDS
from worker.flow.events import EventOutcome, apply_event, record_event
from worker.flow.scheduling import next_wakeup
from worker.mail import Mailer, MemoryMailer
from worker.notify.loop import Notifier

MONDAY_9AM_NY = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


def write_files(folder: Path, files: dict[str, str]) -> None:
    """Write {relative path: text} under folder; text is dedented."""
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


SIMPLE_TEMPLATE = """
{% block subject %}SUBJECT{% endblock %}
{% block text %}Hi {{ lead.first_name | default("there") }}, STEP.
{{ unsubscribe_url }}{% endblock %}
"""


def template(subject: str, step: str = "") -> str:
    """A minimal email template whose subject and text are easy to assert on."""
    return SIMPLE_TEMPLATE.replace("SUBJECT", subject).replace("STEP", step or subject)


class Harness:
    """Build with sequence/template files; then send events and move the virtual clock."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        sequences: dict[str, str],
        templates: dict[str, str],
        start: datetime = MONDAY_9AM_NY,
        mailer: Mailer | None = None,
        database_url: str | None = None,
        threads: int = 2,
        notifier_timeout: float = WEBHOOK_TIMEOUT_SECONDS,
        notify_inline: bool = True,
        **settings: Any,
    ) -> None:
        write_files(tmp_path / "sequences", sequences)
        write_files(tmp_path / "templates", templates)
        self.settings = Settings(
            database_url=database_url or f"sqlite:///{tmp_path / 'followup.db'}",
            sequences_dir=tmp_path / "sequences",
            templates_dir=tmp_path / "templates",
            outbox_dir=tmp_path / "outbox",
            secret_key="test-secret",
            base_url="https://followup.test",
            default_from="Sales <sales@acme.test>",
            **settings,
        )
        self.clock = VirtualClock(start)
        self.mailer = mailer or MemoryMailer()
        self.rt: Runtime = build_runtime(self.settings, clock=self.clock, mailer=self.mailer)
        self.broker: dramatiq.Broker = make_broker(self.settings)
        self.actors: Actors = declare_actors(self.broker, self.rt)
        self.worker = dramatiq.Worker(self.broker, worker_threads=threads, worker_timeout=20)
        self.worker.start()
        self.notifier = Notifier(self.rt, threads=2, timeout=notifier_timeout)
        self.notify_inline = notify_inline  # False: a test runs its own notifier thread

    def close(self) -> None:
        self.worker.stop()
        self.notifier.close()
        self.rt.close()

    @property
    def sent(self) -> list[Any]:
        return list(getattr(self.mailer, "sent", []))

    def event(self, type: str, email: str, **extra: Any) -> EventOutcome:
        """Record and apply one event now, as `followup events send` does."""
        lead = {"email": email, **extra.pop("lead", {})}
        payload = EventIn.model_validate({"type": type, "lead": lead, **extra})
        now = self.clock.now()
        with transaction(self.rt.engine) as session:
            row, _ = record_event(session, payload, now=now)
            return apply_event(
                session, row, catalog=self.rt.catalog, versions=self.rt.versions, now=now
            )

    def tick(self) -> TickResult:
        """One scheduler pass, then wait until the workers (and alerts) have handled everything."""
        result = tick(self.rt)
        self.drain()
        team = self.rt.catalog.team
        if self.notify_inline and (team.alerts or team.webhooks):
            self.notifier.drain()
        return result

    def drain(self) -> None:
        self.broker.join(TOUCH_QUEUE)
        self.broker.join(EVENT_QUEUE)
        self.worker.join()

    def advance(self, delta: timedelta) -> None:
        """Move time forward by `delta`, stopping at every due touch and deadline on the way."""
        until = self.clock.now() + delta
        self.tick()
        while True:
            with Session(self.rt.engine) as session:
                wakeup = next_wakeup(session)
            if wakeup is None or not self.clock.now() < wakeup <= until:
                break
            self.clock.move_to(wakeup)
            self.tick()
        self.clock.move_to(until)
        self.tick()

    def touches(self, **where: Any) -> list[Touch]:
        with Session(self.rt.engine) as session:
            query = select(Touch).order_by(col(Touch.id))
            for name, value in where.items():
                query = query.where(getattr(Touch, name) == value)
            return list(session.exec(query))

    def enrollments(self) -> list[Enrollment]:
        with Session(self.rt.engine) as session:
            return list(session.exec(select(Enrollment).order_by(col(Enrollment.id))))
