"""The notifier: delivers the alert and webhook outboxes on its own bounded pool of threads.

It runs beside the scheduler (`followup run`, `followup scheduler`), never inside the send
path: a receiver that is slow or down holds at most IN_FLIGHT_PER_WEBHOOK of its threads for at
most its timeout, and nothing else waits for it.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime

from sqlalchemy import BindParameter, and_, bindparam, exists, or_
from sqlmodel import col, select

from models.notification import AlertStatus, DeliveryStatus, SlaAlert, WebhookDelivery
from models.types import UTCDateTime
from worker.engine.db import reading, transaction
from worker.engine.runtime import Runtime
from worker.engine.tunables import IN_FLIGHT_PER_WEBHOOK, NOTIFIER_THREADS, WEBHOOK_TIMEOUT_SECONDS
from worker.notify.alert_delivery import deliver_alerts
from worker.notify.http import Poster
from worker.notify.webhook_delivery import (
    Claimed,
    claim_due,
    post_delivery,
    record_outcome,
    redrive_lost,
)

log = logging.getLogger("followup.notifier")
ALERTS = "(alerts)"  # the in-flight key of the alert job, beside the webhook names


def _logged(key: str, job: Callable[[], None]) -> None:
    """A failed job is logged; its row stays claimed until the lease runs out, then retries."""
    try:
        job()
    except Exception:  # the database or the receiver failed in a way nobody expected
        log.exception("notifier job for %s failed; its lease will re-drive it", key)


_NOW: BindParameter[datetime] = bindparam("now", type_=UTCDateTime)
_DUE = select(
    exists().where(
        or_(
            and_(col(SlaAlert.status) == AlertStatus.PENDING, col(SlaAlert.due_at) <= _NOW),
            and_(col(SlaAlert.status) == AlertStatus.SENDING, col(SlaAlert.lease_until) < _NOW),
        )
    ),
    exists().where(
        or_(
            and_(
                col(WebhookDelivery.status) == DeliveryStatus.PENDING,
                col(WebhookDelivery.due_at) <= _NOW,
            ),
            and_(
                col(WebhookDelivery.status) == DeliveryStatus.SENDING,
                col(WebhookDelivery.lease_until) < _NOW,
            ),
        )
    ),
)  # built once


class Notifier:
    def __init__(
        self,
        rt: Runtime,
        *,
        threads: int = NOTIFIER_THREADS,
        per_webhook: int = IN_FLIGHT_PER_WEBHOOK,
        timeout: float = WEBHOOK_TIMEOUT_SECONDS,
        rng: random.Random | None = None,
    ) -> None:
        self.rt, self.threads, self.per_webhook = rt, threads, per_webhook
        self.poster = Poster(timeout)
        self.rng = rng or random.Random()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="notifier")
        self._in_flight: dict[Future[None], str] = {}

    def pass_once(self) -> int:
        """Start what is due, without waiting for it; returns how many jobs started."""
        self._in_flight = {f: key for f, key in self._in_flight.items() if not f.done()}
        started = 0
        alerts_due, hooks_due = self._due()
        if alerts_due and ALERTS not in self._in_flight.values():
            self._start(ALERTS, self._alerts)
            started += 1
        free = self.threads - len(self._in_flight)
        if free <= 0 or not hooks_due:
            return started
        now = self.rt.clock.now()
        with transaction(self.rt.engine) as session:
            redrive_lost(session, now=now)
            claimed = claim_due(
                session,
                now=now,
                free=free,
                busy=Counter(self._in_flight.values()),
                per_webhook=self.per_webhook,
            )
        for delivery in claimed:
            self._start(delivery.webhook, functools.partial(self._deliver, delivery))
        return started + len(claimed)

    def drain(self) -> None:
        """Run passes until nothing is due now, waiting for each (tests and the demo)."""
        while self.pass_once():
            wait(list(self._in_flight))

    def run(self, stop: threading.Event) -> None:
        """Pass every tick until `stop`; errors are logged, never fatal."""
        log.info("notifier started (%d threads)", self.threads)
        while not stop.is_set():
            try:
                self.pass_once()
            except Exception:  # a database hiccup must not end the loop
                log.exception("notifier pass failed; retrying")
            stop.wait(min(self.rt.settings.tick_seconds, 1.0))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.poster.close()

    def _start(self, key: str, job: Callable[[], None]) -> None:
        self._in_flight[self._pool.submit(_logged, key, job)] = key

    def _due(self) -> tuple[bool, bool]:
        """Whether alerts, and webhook deliveries, are due now (lost ones included): one
        statement of two EXISTS on the status indexes, every pass of every tick."""
        now = self.rt.clock.now()
        with reading(self.rt.engine) as session:
            alerts, hooks = session.execute(_DUE, {"now": now}).one()
        return bool(alerts), bool(hooks)

    def _alerts(self) -> None:
        sent = deliver_alerts(self.rt, self.poster)
        if sent:
            log.info("alerts sent: %d", sent)

    def _deliver(self, delivery: Claimed) -> None:
        webhooks = {w.key: w for w in self.rt.catalog.team.webhooks}
        timestamp = int(self.rt.clock.now().timestamp())
        posted = post_delivery(
            delivery,
            webhooks.get(delivery.webhook),
            self.rt.settings.environment,
            self.poster,
            timestamp,
        )
        with transaction(self.rt.engine) as session:
            outcome = record_outcome(
                session, delivery, posted, now=self.rt.clock.now(), rng=self.rng
            )
        log.info(
            "webhook %s %s (%s): %s", delivery.webhook, delivery.event_id, delivery.id, outcome
        )
