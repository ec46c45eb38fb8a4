"""The queue figures of dramatiq, exported by a middleware of ours.

dramatiq ships a Prometheus middleware, but it is configured by environment variables read at
import, binds its own exposition server to 0.0.0.0:9191 through the dramatiq CLI's fork hook
(which `followup worker` does not use), measures in milliseconds, and exports no queue depth.
This middleware counts the same events into followup's registry (multiprocess-safe, so the
`--processes` children add up) and the depths come from the broker at scrape time.
"""

from __future__ import annotations

import time
from typing import Any

import dramatiq
from prometheus_client import Counter, Gauge, Histogram

LABELS = ["queue", "actor"]
MESSAGES = Counter(
    "followup_queue_messages_total",
    "Broker messages handled by this process's workers, by result (ok, error, skipped).",
    [*LABELS, "result"],
)
MESSAGE_SECONDS = Histogram(
    "followup_queue_message_seconds",
    "Time a worker spent on one message.",
    LABELS,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600),
)
IN_PROGRESS = Gauge(
    "followup_queue_messages_in_progress",
    "Messages being worked on right now.",
    LABELS,
    multiprocess_mode="livesum",
)
ENQUEUED = Counter("followup_queue_enqueued_total", "Messages this process enqueued.", LABELS)


class QueueMetrics(dramatiq.Middleware):
    """Counts every message a worker thread of this process takes, and every enqueue."""

    def __init__(self) -> None:
        self._started: dict[str, float] = {}

    def after_enqueue(self, broker: dramatiq.Broker, message: Any, delay: Any) -> None:
        ENQUEUED.labels(message.queue_name, message.actor_name).inc()

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        IN_PROGRESS.labels(message.queue_name, message.actor_name).inc()
        self._started[message.message_id] = time.perf_counter()

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        self._finish(message, "error" if exception is not None else "ok")

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        self._finish(message, "skipped")

    def _finish(self, message: Any, result: str) -> None:
        labels = (message.queue_name, message.actor_name)
        started = self._started.pop(message.message_id, None)
        if started is None:  # skipped before it started: nothing was in progress
            MESSAGES.labels(*labels, result).inc()
            return
        IN_PROGRESS.labels(*labels).dec()
        MESSAGE_SECONDS.labels(*labels).observe(time.perf_counter() - started)
        MESSAGES.labels(*labels, result).inc()
