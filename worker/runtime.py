"""Everything a process needs, built once at its edge from Settings and passed inward."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from worker.catalog import Catalog, load_catalog
from worker.clock import Clock, SystemClock
from worker.db import create_schema, make_engine
from worker.mail import Sender, make_sender
from worker.rendering import Renderer
from worker.settings import Settings
from worker.versions import VersionStore


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sender: Sender
    renderer: Renderer
    catalog: Catalog
    clock: Clock = field(default_factory=SystemClock)
    versions: VersionStore = field(default_factory=VersionStore)
    enqueue_touch: Callable[[int], None] = lambda _touch_id: None
    enqueue_event: Callable[[int], None] = lambda _event_id: None

    @property
    def secret(self) -> str:
        return self.settings.require_secret()

    def close(self) -> None:
        self.sender.close()
        self.engine.dispose()


def build_runtime(
    settings: Settings, *, clock: Clock | None = None, sender: Sender | None = None,
    create_tables: bool = True,
) -> Runtime:
    """Load and check the catalog first: a bad sequence never starts anything."""
    renderer = Renderer(settings.templates_dir)
    catalog = load_catalog(settings.sequences_dir, renderer)
    engine = make_engine(settings.database_url)
    if create_tables:
        create_schema(engine)
    return Runtime(
        settings=settings, engine=engine,
        sender=sender or make_sender(settings.smtp_url, settings.outbox_dir),
        renderer=renderer, catalog=catalog, clock=clock or SystemClock(),
    )


_current: Runtime | None = None
_current_lock = threading.Lock()


def install(runtime: Runtime) -> None:
    """Make `runtime` the one the actors of this process use."""
    global _current
    with _current_lock:
        _current = runtime


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("no runtime installed in this process (call worker.runtime.install)")
    return _current
