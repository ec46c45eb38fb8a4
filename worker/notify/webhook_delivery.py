"""Delivering the webhook outbox: claim due rows, POST them signed, record the answer.

At least once: a row is claimed (compare-and-set, with a lease), posted outside any
transaction, then recorded; a crash in between re-sends it after the lease, with the same id and
the same body. Failures retry with jittered, doubling backoff for WEBHOOK_RETRY_FOR from the
first attempt, then the row is dead with the reason (`followup webhooks retry` re-drives it).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, update
from sqlmodel import Session, col, func, select

from models.notification import DeliveryStatus, WebhookDelivery
from worker.engine.db import changed_rows
from worker.engine.tunables import (
    WEBHOOK_CLAIM_BATCH,
    WEBHOOK_FIRST_RETRY,
    WEBHOOK_LEASE,
    WEBHOOK_MAX_BACKOFF,
    WEBHOOK_RETRY_FOR,
)
from worker.notify.http import Posted, Poster
from worker.notify.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, signature_header
from worker.specs.webhooks import WebhookSpec


@dataclass(frozen=True)
class Claimed:
    id: int
    event_id: str
    webhook: str
    body: str
    attempts: int
    retry_until: datetime


def backoff(attempts: int, rng: random.Random) -> timedelta:
    """30 s, 1 min, 2 min, ... up to an hour, each drawn from 50-100% so retries spread out."""
    base = min(WEBHOOK_FIRST_RETRY * 2 ** max(attempts - 1, 0), WEBHOOK_MAX_BACKOFF)
    return base * rng.uniform(0.5, 1.0)


def redrive_lost(session: Session, *, now: datetime) -> int:
    """Rows whose deliverer died mid-flight become due again (the receiver may see them twice)."""
    return changed_rows(
        session,
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.status) == DeliveryStatus.SENDING,
            col(WebhookDelivery.lease_until) < now,
        )
        .values(status=DeliveryStatus.PENDING, due_at=now, lease_until=None),
    )


def pick_fairly(
    candidates: Sequence[tuple[int | None, str]],
    *,
    free: int,
    busy: Mapping[str, int],
    per_webhook: int,
) -> list[int]:
    """Oldest first, but no webhook past `per_webhook` in flight: a slow one waits its turn."""
    taken: dict[str, int] = dict(busy)
    picked: list[int] = []
    for row_id, webhook in candidates:
        if len(picked) >= free:
            break
        if row_id is not None and taken.get(webhook, 0) < per_webhook:
            taken[webhook] = taken.get(webhook, 0) + 1
            picked.append(row_id)
    return picked


def claim_due(
    session: Session, *, now: datetime, free: int, busy: Mapping[str, int], per_webhook: int
) -> list[Claimed]:
    """Up to `free` due rows, oldest first, at most `per_webhook` in flight for any webhook."""
    candidates = session.exec(
        select(WebhookDelivery.id, WebhookDelivery.webhook)
        .where(
            col(WebhookDelivery.status) == DeliveryStatus.PENDING,
            col(WebhookDelivery.due_at) <= now,
        )
        .order_by(col(WebhookDelivery.due_at), col(WebhookDelivery.id))
        .limit(WEBHOOK_CLAIM_BATCH)
    ).all()
    picked = pick_fairly(candidates, free=free, busy=busy, per_webhook=per_webhook)
    if not picked:
        return []
    won = session.execute(
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.id).in_(picked),
            col(WebhookDelivery.status) == DeliveryStatus.PENDING,
        )
        .values(
            status=DeliveryStatus.SENDING,
            lease_until=now + WEBHOOK_LEASE,
            attempts=col(WebhookDelivery.attempts) + 1,
            retry_until=func.coalesce(col(WebhookDelivery.retry_until), now + WEBHOOK_RETRY_FOR),
        )
        .returning(col(WebhookDelivery.id))
    ).scalars()
    rows = session.exec(
        select(WebhookDelivery)
        .where(col(WebhookDelivery.id).in_(list(won)))
        .execution_options(populate_existing=True)
    ).all()
    return [
        Claimed(r.id, r.event_id, r.webhook, r.body, r.attempts, r.retry_until)  # type: ignore[arg-type]  # claimed rows have both
        for r in rows
    ]


def post_delivery(
    claimed: Claimed,
    webhook: WebhookSpec | None,
    secrets: Mapping[str, str | None],
    poster: Poster,
    timestamp: int,
) -> Posted:
    """One signed POST of the stored body; a webhook gone from team.yaml cannot be posted."""
    if webhook is None:
        return Posted(None, f"webhook {claimed.webhook!r} is no longer in team.yaml", final=True)
    secret = secrets.get(webhook.secret_env)
    if not secret:
        return Posted(None, f"{webhook.secret_env} is not set")
    body = claimed.body.encode()
    headers = {
        "Content-Type": "application/json",
        EVENT_ID_HEADER: claimed.event_id,
        SIGNATURE_HEADER: signature_header(secret, timestamp, body),
    }
    return poster.post(webhook.url, body, headers)


def record_outcome(
    session: Session, claimed: Claimed, posted: Posted, *, now: datetime, rng: random.Random
) -> str:
    """Delivered, retried later, or dead; a compare-and-set out of `sending`."""
    values: dict[str, object]
    if posted.ok:
        values = {"status": DeliveryStatus.DELIVERED, "delivered_at": now, "last_error": None}
        outcome = "delivered"
    elif now >= claimed.retry_until or posted.final:
        reason = f"gave up after {claimed.attempts} attempt(s): {posted.error}"
        values = {"status": DeliveryStatus.DEAD, "last_error": reason[:1000]}
        outcome = f"dead: {reason}"
    else:
        due = min(now + backoff(claimed.attempts, rng), claimed.retry_until)
        values = {"status": DeliveryStatus.PENDING, "due_at": due, "last_error": posted.error}
        outcome = f"retry at {due:%H:%M:%S}: {posted.error}"
    changed = changed_rows(
        session,
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.id) == claimed.id,
            col(WebhookDelivery.status) == DeliveryStatus.SENDING,
        )
        .values(lease_until=None, **values),
    )
    return outcome if changed else "already recorded"


def list_deliveries(
    session: Session, *, status: str | None = None, limit: int = 50
) -> list[WebhookDelivery]:
    """The newest deliveries first, optionally of one status."""
    query = select(WebhookDelivery).order_by(col(WebhookDelivery.id).desc()).limit(limit)
    if status:
        query = query.where(col(WebhookDelivery.status) == status)
    return list(session.exec(query).all())


def delivery_counts(session: Session) -> dict[str, int]:
    rows = session.exec(
        select(WebhookDelivery.status, func.count()).group_by(col(WebhookDelivery.status))
    ).all()
    return {str(status): int(n) for status, n in rows}


def redrive(session: Session, *, ids: list[int], dead: bool, now: datetime) -> int:
    """Dead (or named, not yet delivered) deliveries become due now, with a fresh day of retries;
    the event id and body stay the same."""
    chosen: list[ColumnElement[bool]] = [col(WebhookDelivery.id).in_(ids)] if ids else []
    if dead:
        chosen.append(col(WebhookDelivery.status) == DeliveryStatus.DEAD)
    if not chosen:
        return 0
    return changed_rows(
        session,
        update(WebhookDelivery)
        .where(
            or_(*chosen),
            col(WebhookDelivery.status).in_((DeliveryStatus.DEAD, DeliveryStatus.PENDING)),
        )
        .values(
            status=DeliveryStatus.PENDING,
            due_at=now,
            retry_until=now + WEBHOOK_RETRY_FOR,
            lease_until=None,
        ),
    )
