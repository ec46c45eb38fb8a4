"""A whole followup on fakes: temp folders, SQLite, StubBroker with real dramatiq worker threads,
a MemoryMailer and a virtual clock (worker/engine/simulation.py). Tests drive time with it,
never with sleep; tests/conftest.py's `make_harness` builds one and closes it afterwards."""

from __future__ import annotations

import textwrap
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from models.enrollment import Enrollment
from models.event import EventIn
from models.touch import Touch
from worker.engine.actors import Actors
from worker.engine.clock import VirtualClock
from worker.engine.runtime import Runtime, build_runtime
from worker.engine.scheduler_loop import TickResult
from worker.engine.settings import Settings
from worker.engine.simulation import Simulation
from worker.engine.tunables import WEBHOOK_TIMEOUT_SECONDS
from worker.flow.events import EventOutcome
from worker.mail import Mailer, MemoryMailer, OutgoingEmail

MONDAY_9AM_NY = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
TEST_SECRET = "tests-only-5c1f9a7e3b8d2046-signing-key"  # 32+ bytes: start-up refuses less


def write_files(folder: Path, files: dict[str, str]) -> None:
    """Write {relative path: text} under folder; text is dedented."""
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


ONE_EMAIL_SEQUENCE = """
name: s
trigger: lead.mql
steps:
  - id: one
    email: t/one
"""  # the smallest sequence: one email step; the flow tests pair it with template("One")

SIMPLE_TEMPLATE = """
{% block subject %}SUBJECT{% endblock %}
{% block text %}Hi {{ lead.first_name | default("there") }}, STEP.
{{ unsubscribe_url }}{% endblock %}
"""


def template(subject: str, step: str = "") -> str:
    """A minimal email template whose subject and text are easy to assert on."""
    return SIMPLE_TEMPLATE.replace("SUBJECT", subject).replace("STEP", step or subject)


def done_at(touch: Touch) -> datetime:
    """When a sent or done touch completed (a touch that has not has no such time)."""
    if touch.completed_at is None:
        raise AssertionError(f"touch {touch.id} ({touch.step}) is {touch.status}, not completed")
    return touch.completed_at


class Harness:
    """Build with sequence/template files; then send events and move the virtual clock."""

    def __init__(
        self,
        folder: Path,
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
        """`mailer` replaces the MemoryMailer (e.g. a Maildir outbox, or SMTP for a bench); with
        `smtp_url` among the settings and no mailer, the runtime builds its own (SMTP, signed);
        `notifier_timeout` and `notify_inline` are the Simulation's (alerts and webhooks)."""
        write_files(folder / "sequences", sequences)
        write_files(folder / "templates", templates)
        defaults: dict[str, Any] = {
            "secret_key": TEST_SECRET,
            "base_url": "https://followup.test",
            "default_from": "Sales <sales@acme.test>",
        }
        self.settings = Settings(
            database_url=database_url or f"sqlite:///{folder / 'followup.db'}",
            sequences_dir=folder / "sequences",
            templates_dir=folder / "templates",
            outbox_dir=folder / "outbox",
            **(defaults | settings),
        )
        self.clock = VirtualClock(start)
        injected = mailer or (None if settings.get("smtp_url") else MemoryMailer())
        self.rt: Runtime = build_runtime(
            self.settings, clock=self.clock, mailer=injected, schema="upgrade"
        )
        self.simulation = Simulation(
            self.rt,
            self.clock,
            threads=threads,
            notifier_timeout=notifier_timeout,
            notify_inline=notify_inline,
        ).start()
        self.actors: Actors = self.simulation.actors
        self.notifier = self.simulation.notifier

    def close(self) -> None:
        self.simulation.stop()
        self.rt.close()

    @property
    def mailer(self) -> MemoryMailer:
        """The fake the runtime sends through: what was sent, and failures to script."""
        if not isinstance(self.rt.mailer, MemoryMailer):
            raise TypeError(f"this harness sends through a {type(self.rt.mailer).__name__}")
        return self.rt.mailer

    @property
    def sent(self) -> list[OutgoingEmail]:
        return list(self.mailer.sent)

    def event(self, type: str, email: str, **extra: Any) -> EventOutcome:
        """Record and apply one event now, as `followup events send` does."""
        lead = {"email": email, **extra.pop("lead", {})}
        return self.simulation.receive(
            EventIn.model_validate({"type": type, "lead": lead, **extra})
        )

    def tick(self) -> TickResult:
        """One scheduler pass, then wait until the workers have handled every message."""
        return self.simulation.tick()

    def drain(self) -> None:
        self.simulation.drain()

    def advance(self, delta: timedelta) -> None:
        """Move time forward by `delta`, stopping at every due touch and deadline on the way."""
        self.advance_to(self.clock.now() + delta)

    def advance_to(self, moment: datetime) -> None:
        """Move time forward to `moment`, doing everything that falls due on the way."""
        self.simulation.run_until(moment)

    def touches(self, **where: Any) -> list[Touch]:
        with Session(self.rt.engine) as session:
            query = select(Touch).order_by(col(Touch.id))
            for name, value in where.items():
                query = query.where(getattr(Touch, name) == value)
            return list(session.exec(query))

    def enrollments(self) -> list[Enrollment]:
        with Session(self.rt.engine) as session:
            return list(session.exec(select(Enrollment).order_by(col(Enrollment.id))))


class Harnesses:
    """Builds harnesses, each in its own folder under `root`, and closes all of them at exit."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.made: list[Harness] = []
        self._closing = ExitStack()  # closes every harness, newest first, even if one fails

    def __call__(
        self,
        *,
        sequences: dict[str, str],
        templates: dict[str, str],
        start: datetime = MONDAY_9AM_NY,
        mailer: Mailer | None = None,
        database_url: str | None = None,
        threads: int = 2,
        **settings: Any,
    ) -> Harness:
        """A started harness (the keywords are Harness's); it is closed with the others."""
        folder = self.root / f"harness-{len(self.made) + 1}"
        h = Harness(
            folder,
            sequences=sequences,
            templates=templates,
            start=start,
            mailer=mailer,
            database_url=database_url,
            threads=threads,
            **settings,
        )
        self.made.append(h)
        self._closing.callback(h.close)
        return h

    def __enter__(self) -> Harnesses:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._closing.close()
