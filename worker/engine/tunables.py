"""Leases, batch sizes, attempts, backoff and timeouts: the knobs, in one place."""

from __future__ import annotations

from datetime import timedelta

# Outbound webhooks (worker/notify/webhook_delivery.py)
WEBHOOK_TIMEOUT_SECONDS = 10.0  # per connect/read/write; a slower receiver counts as failed
WEBHOOK_RETRY_FOR = timedelta(hours=24)  # from the first attempt; then the delivery is dead
WEBHOOK_FIRST_RETRY = timedelta(seconds=30)  # backoff doubles from here, jittered to 50-100%
WEBHOOK_MAX_BACKOFF = timedelta(hours=1)
WEBHOOK_LEASE = timedelta(minutes=2)  # a claimed delivery not recorded by then is retried
WEBHOOK_CLAIM_BATCH = 200

# The notifier loop (worker/notify/loop.py)
NOTIFIER_THREADS = 4  # concurrent deliveries; bounded so a slow receiver cannot pile up
IN_FLIGHT_PER_WEBHOOK = 2  # one slow webhook holds at most this many threads

# SLA alerts (worker/notify/alert_delivery.py)
ALERT_LEASE = timedelta(minutes=3)
ALERT_MAX_ATTEMPTS = 8
ALERT_FIRST_RETRY = timedelta(minutes=1)
ALERT_BATCH = 200
