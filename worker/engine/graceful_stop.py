"""Stopping a worker cleanly (SIGTERM): sends in flight finish; the touches it had fetched but not
started go back to the database, due again, for the other workers; all within GRACEFUL_STOP.
Whatever is still sending then is left to its lease, so a second signal or SIGKILL loses nothing."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware, SkipMessage

from worker.engine.db import transaction
from worker.engine.runtime import Runtime
from worker.engine.tunables import GRACEFUL_STOP
from worker.flow.redrive import return_unstarted

log = logging.getLogger("followup.worker")


class ReturnUnstarted(Middleware):
    """Once `closing` is set, a send_touch(es) message a worker thread takes up is not run: its
    touches go back to the database (due now) and the message is acked; `running` counts the
    messages being processed."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.closing = threading.Event()
        self.returned = 0
        self._running = 0
        self._lock = threading.Lock()
        self._counted = threading.local()

    @property
    def running(self) -> int:
        with self._lock:
            return self._running

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        if self.closing.is_set() and message.actor_name in ("send_touch", "send_touches"):
            ids = message.args[0] if message.actor_name == "send_touches" else [message.args[0]]
            with transaction(self.rt.engine) as session:
                now = self.rt.clock.now()
                back = sum(return_unstarted(session, touch_id, now=now) for touch_id in ids)
            with self._lock:
                self.returned += back
            raise SkipMessage("worker stopping: touch returned to the database")
        with self._lock:
            self._running += 1
        self._counted.value = True

    def after_process_message(
        self, broker: dramatiq.Broker, message: Any, *, result: Any = None, exception: Any = None
    ) -> None:
        if getattr(self._counted, "value", False):
            self._counted.value = False
            with self._lock:
                self._running -= 1


def stop_gracefully(
    worker: dramatiq.Worker, gate: ReturnUnstarted, *, timeout: timedelta = GRACEFUL_STOP
) -> None:
    """Close the gate, stop fetching, let the running messages finish and the fetched ones be
    returned, then stop dramatiq's threads; never longer than `timeout` in all."""
    deadline = time.monotonic() + timeout.total_seconds()
    gate.closing.set()
    _stop_fetching(worker)
    log.info("stopping: %d message(s) running; returning the rest to the database", gate.running)
    while (gate.running or worker.work_queue.qsize()) and time.monotonic() < deadline:
        time.sleep(0.05)
    left_ms = max(1, int((deadline - time.monotonic()) * 1000))
    worker.stop(timeout=left_ms)
    log.info(
        "worker stopped: %d queued touch(es) returned to the database, %d still running "
        "(their lease re-drives them)",
        gate.returned,
        gate.running,
    )


def _stop_fetching(worker: dramatiq.Worker) -> None:
    """No more messages from the broker: each consumer's prefetch drops to nothing (dramatiq's
    Redis consumer fetches only while fewer than `prefetch` messages are outstanding)."""
    for thread in worker.consumers.values():
        consumer = getattr(thread, "consumer", None)
        if consumer is not None and hasattr(consumer, "prefetch"):
            consumer.prefetch = 0
