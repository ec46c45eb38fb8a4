"""Everything a process needs, built once at its edge from Settings and passed inward."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from random import Random
from typing import TYPE_CHECKING, Literal

from sqlalchemy import Engine

from worker.engine.clock import Clock, SystemClock, system_clock
from worker.engine.db import make_engine
from worker.engine.schema import prepare_schema
from worker.engine.settings import Settings
from worker.engine.tunables import send_bounds
from worker.mail import DkimSigner, Mailer, make_mailer
from worker.notify.outbox import publishing
from worker.specs.catalog import Catalog, CatalogError, load_catalog
from worker.specs.rendering import Renderer
from worker.specs.versions import VersionStore

if TYPE_CHECKING:  # dramatiq and redis load only in processes that use a broker
    from worker.engine.broker import BrokerHealth

logger = logging.getLogger("followup.runtime")
SchemaPolicy = Literal["require", "upgrade", "skip"]


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    mailer: Mailer
    renderer: Renderer
    catalog: Catalog
    clock: Clock = field(default_factory=SystemClock)
    versions: VersionStore = field(default_factory=VersionStore)
    signer: DkimSigner = field(default_factory=DkimSigner)  # the mailer signs with its keys
    random: Random = field(default_factory=Random)  # retry jitter; seed it for a replayable run
    enqueue_touch: Callable[[int], object] = lambda _touch_id: None
    enqueue_touches: Callable[[list[int]], object] | None = None  # None: one message an id
    enqueue_event: Callable[[int], object] = lambda _event_id: None
    # a block whose enqueues go to the broker together, in one round trip (a claim's messages)
    enqueue_together: Callable[[], AbstractContextManager[object]] = nullcontext

    _fingerprint: tuple[tuple[str, int, int], ...] = ()
    _checked_at: float = 0.0

    def refresh_catalog(self, *, min_interval: float = 1.0) -> bool:
        """Reload the sequences when their files changed; a broken edit keeps the running catalog.

        Running enrollments are unaffected either way: they render their pinned version.
        """
        now = time.monotonic()
        if now - self._checked_at < min_interval:
            return False
        self._checked_at = now
        fingerprint = folder_fingerprint(self.settings.sequences_dir, self.settings.templates_dir)
        if not self._fingerprint:
            self._fingerprint = fingerprint
        if fingerprint == self._fingerprint:
            return False
        self._fingerprint = fingerprint
        try:
            self.catalog = load_catalog(
                self.settings.sequences_dir, self.renderer, self.settings.environment
            )
        except CatalogError as exc:
            logger.error(
                "sequences changed but are invalid; still running the previous ones:\n%s", exc
            )
            return False
        self.signer.use(self.catalog.team.dkim_keys())
        self.engine = publishing(self.engine, self.catalog.team.webhooks)
        logger.info("sequences reloaded: %s", ", ".join(self.catalog.sequences))
        return True

    @property
    def secret(self) -> str:
        """The newest signing key."""
        return self.settings.require_secret()

    @property
    def key_ring(self) -> tuple[str, ...]:
        """Every signing key, newest first: tokens made with any of them verify."""
        return self.settings.key_ring()

    @cached_property
    def broker_health(self) -> BrokerHealth | None:
        """Redis's health checker (one client for every /healthz and status); None: embedded."""
        from worker.engine.broker import BrokerHealth

        return BrokerHealth(self.settings.redis_url) if self.settings.redis_url else None

    def close(self) -> None:
        self.mailer.close()
        self.engine.dispose()
        health = self.__dict__.get("broker_health")  # only if a check ever built it
        if health is not None:
            health.close()


def build_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    mailer: Mailer | None = None,
    schema: SchemaPolicy = "require",
) -> Runtime:
    """Load and check the catalog first: a bad sequence never starts anything.

    `schema`: "require" creates a new database and refuses one that is behind or ahead
    (SchemaError); "upgrade" also migrates one that is behind (the demo, the tests); "skip"
    trusts a check already made (worker children).
    """
    clock = clock or system_clock(settings.clock_offset_seconds)
    renderer = Renderer(settings.templates_dir)
    catalog = load_catalog(settings.sequences_dir, renderer, settings.environment)
    engine = publishing(make_engine(settings.database_url), catalog.team.webhooks)
    signer = DkimSigner(catalog.team.dkim_keys())  # keys read once, with the catalog
    try:
        if schema != "skip":
            prepare_schema(engine, upgrade=schema == "upgrade")
        mailer = mailer or make_mailer(
            settings.smtp_url,
            settings.outbox_dir,
            clock=clock,
            signer=signer,
            timeout=min(  # fits inside the lease; FOLLOWUP_SMTP_TIMEOUT_SECONDS only shortens it
                send_bounds(settings.lease_seconds).smtp_timeout, settings.smtp_timeout_seconds
            ),
        )
    except BaseException:  # a bad SMTP URL or an unreachable database: no engine left behind
        engine.dispose()
        raise
    runtime = Runtime(
        settings=settings,
        engine=engine,
        mailer=mailer,
        renderer=renderer,
        catalog=catalog,
        clock=clock,
        signer=signer,
    )
    runtime._fingerprint = folder_fingerprint(settings.sequences_dir, settings.templates_dir)
    return runtime


def folder_fingerprint(*folders: Path) -> tuple[tuple[str, int, int], ...]:
    """Path, mtime and size of every file: changes when anything is edited, added or removed."""
    entries = []
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                stat = path.stat()
                entries.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(entries)
