"""The webhook outbox: one row per (event, webhook) written in the happening's own transaction.

Which webhooks a process publishes to rides on its engine's execution options (set by the
runtime from team.yaml, `publishing`), so every transaction that records a happening can write
its outbox rows without the configuration being threaded through each caller.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from models.notification import WebhookDelivery
from worker.specs.webhooks import WebhookSpec

WEBHOOKS_OPTION = "followup_webhooks"


def publishing(engine: Engine, webhooks: Sequence[WebhookSpec]) -> Engine:
    """The same engine (and pool) whose sessions write outbox rows for `webhooks`."""
    return engine.execution_options(**{WEBHOOKS_OPTION: tuple(webhooks)})


def subscribers(session: Session, event_type: str) -> list[WebhookSpec]:
    options = session.get_bind().get_execution_options()
    return [w for w in options.get(WEBHOOKS_OPTION, ()) if w.wants(event_type)]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_body(event_id: str, event_type: str, occurred_at: datetime, data: dict[str, Any]) -> str:
    """The exact JSON every attempt sends: compact, keys sorted, so it is signed as stored."""
    payload = {"id": event_id, "type": event_type, "occurred_at": iso(occurred_at), "data": data}
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)


def publish(
    session: Session, event_type: str, *, occurred_at: datetime, data: dict[str, Any]
) -> str | None:
    """Queue the event for every webhook that wants it; returns its id (None: nobody wants it)."""
    webhooks = subscribers(session, event_type)
    if not webhooks:
        return None
    event_id = f"evt_{uuid.uuid4().hex}"
    body = event_body(
        event_id, event_type, occurred_at, {k: v for k, v in data.items() if v is not None}
    )
    for webhook in webhooks:
        session.add(
            WebhookDelivery(
                event_id=event_id,
                webhook=webhook.key,
                type=event_type,
                body=body,
                occurred_at=occurred_at,
                due_at=occurred_at,
            )
        )
    return event_id
