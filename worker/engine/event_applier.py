"""`followup api` alone (no worker in the process): the events the API stored are applied here,
in batches on one thread, so that a request is one committed insert. An event this thread has
not applied when the process dies is stored unprocessed, and the scheduler applies it
(flow/stale_events.py); a batch that fails is retried one event at a time, each failure counted.
"""

from __future__ import annotations

import logging
import threading
import time

from worker.engine.db import transaction
from worker.engine.runtime import Runtime
from worker.engine.tunables import (
    EVENT_APPLIER_STOP,
    EVENT_APPLY_BATCH,
    EVENT_APPLY_GATHER,
    EVENT_APPLY_QUIET,
)
from worker.flow.event_batches import apply_events, unapplied
from worker.flow.stale_events import apply_each

log = logging.getLogger("followup.events")


class EventApplier:
    """A thread that applies the ids handed to it, up to `batch` in one transaction."""

    def __init__(self, rt: Runtime, *, batch: int = EVENT_APPLY_BATCH) -> None:
        self._rt = rt
        self._batch = batch
        self._waiting: list[int] = []
        self._applying = False
        self._stopping = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="event-applier", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, event_id: int) -> None:
        """Apply this stored event soon (its insert committed)."""
        with self._changed:
            self._waiting.append(event_id)
            if len(self._waiting) == 1:  # the thread waits for a first id, then gathers more
                self._changed.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Block until every id handed over was tried; False if `timeout` passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: not (self._waiting or self._applying), timeout)

    def stop(self, timeout: float = EVENT_APPLIER_STOP.total_seconds()) -> None:
        """Apply what was handed over, then end the thread; left over past `timeout`: the
        scheduler applies it."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._waiting:
            log.warning("%d stored events left for the scheduler to apply", len(self._waiting))

    def _run(self) -> None:
        while (ids := self._next_ids()) is not None:
            try:
                self._apply(ids)
            finally:
                with self._changed:
                    self._applying = False
                    self._changed.notify_all()

    def _next_ids(self) -> list[int] | None:
        """The next batch, waiting for one; None once stopping with nothing left."""
        with self._changed:
            self._changed.wait_for(lambda: self._waiting or self._stopping)
            if not self._waiting:
                return None
            self._gather()
            ids, self._waiting = self._waiting[: self._batch], self._waiting[self._batch :]
            self._applying = True
            return ids

    def _gather(self) -> None:
        """More ids while they keep coming (called holding the lock): until the batch is full,
        EVENT_APPLY_QUIET passes with none, EVENT_APPLY_GATHER is over, or stop()."""
        deadline = time.monotonic() + EVENT_APPLY_GATHER.total_seconds()
        seen = 0
        while seen < len(self._waiting) < self._batch and not self._stopping:
            seen = len(self._waiting)
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._changed.wait(min(left, EVENT_APPLY_QUIET.total_seconds()))

    def _apply(self, ids: list[int]) -> None:
        rt = self._rt
        rt.refresh_catalog()
        try:
            with transaction(rt.engine) as session:
                rows = unapplied(session, ids)
                apply_events(
                    session, rows, catalog=rt.catalog, versions=rt.versions, now=rt.clock.now()
                )
            return
        except Exception:  # one bad event must not hold back the others: each on its own
            log.warning(
                "a batch of %d events failed; applying them one by one", len(ids), exc_info=True
            )
        try:
            with transaction(rt.engine) as session:
                rows = unapplied(session, ids)
                apply_each(
                    session, rows, catalog=rt.catalog, versions=rt.versions, now=rt.clock.now()
                )
        except Exception:  # the database itself: they stay stored, unprocessed
            log.exception(
                "%d events stored but not applied; the scheduler will apply them", len(ids)
            )
