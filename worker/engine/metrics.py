"""Prometheus metrics: every counter and histogram followup exports, named by the Prometheus
conventions (followup_ prefix, _total for counters, base units such as _seconds).

Counters that describe database work are counted when its transaction commits
(`count_on_commit`), so a rolled-back attempt is never counted. Figures read from the database
or the broker at scrape time live in worker/engine/metrics_state.py.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import event
from sqlalchemy.orm import Session

from worker import __version__

TOUCHES = Counter(
    "followup_touches_total",
    "Touches by outcome (sent, failed, retry, deferred, held, cancelled, skipped, completed)"
    " and sequence.",
    ["outcome", "sequence"],
)
SMTP_SEND_SECONDS = Histogram(
    "followup_smtp_send_seconds",
    "Time to hand one message to the SMTP server, connecting included, by result.",
    ["result"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
CLAIM_BATCH_SIZE = Histogram(
    "followup_claim_batch_size",
    "Due touches claimed by one scheduler claim (empty claims are not observed).",
    buckets=(1, 5, 10, 25, 50, 100, 250, 500),
)
REDRIVEN = Counter(
    "followup_touches_redriven_total",
    "Touches whose lease expired (message or worker lost) and that were scheduled again.",
)
SCHEDULER_TICKS = Counter(
    "followup_scheduler_ticks_total", "Scheduler passes, by result.", ["result"]
)
SCHEDULER_TICK_SECONDS = Histogram(
    "followup_scheduler_tick_seconds",
    "Duration of one scheduler pass.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SCHEDULER_LAST_TICK = Gauge(
    "followup_scheduler_last_tick_timestamp_seconds",
    "Unix time of this scheduler's last successful pass.",
    multiprocess_mode="max",
)
SLA_VERDICTS = Counter(
    "followup_sla_verdicts_total", "SLA verdicts decided, by outcome.", ["outcome"]
)
MAILBOX_DEFERRALS = Counter(
    "followup_mailbox_limit_deferrals_total",
    "Touches deferred because their mailbox reached its daily limit or minimum gap.",
    ["mailbox"],
)
EVENTS_ACCEPTED = Counter(
    "followup_events_accepted_total", "Lead events stored (API, CLI, CSV import), duplicates not."
)
EVENTS_APPLIED = Counter("followup_events_applied_total", "Lead events carried out.")
IMPORT_ROWS = Counter(
    "followup_import_rows_total",
    "CSV import rows, by result (created, updated, unchanged, merged, rejected).",
    ["result"],
)
BUILD_INFO = Gauge(
    "followup_build_info", "Always 1; the version label says which followup runs.", ["version"],
    multiprocess_mode="max",
)  # fmt: skip
BUILD_INFO.labels(version=__version__).set(1)

_PENDING = "followup_metrics_pending"


def count_on_commit(session: Session, counter: Any, amount: float = 1) -> None:
    """Increment `counter` (a labelled child) once `session`'s transaction commits."""
    if amount:
        session.info.setdefault(_PENDING, []).append((counter, amount))


@event.listens_for(Session, "after_commit")
def _count_committed(session: Session) -> None:
    for counter, amount in session.info.pop(_PENDING, ()):
        counter.inc(amount)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)
