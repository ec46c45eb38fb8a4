"""POST /webhooks/postmark|sendgrid|mailgun: an ESP's bounces, complaints, unsubscribes and
deliveries, checked with the provider's own credentials, recorded once per provider event id."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from worker.api.deps import Rt, invalid
from worker.engine.db import transaction
from worker.engine.runtime import Runtime
from worker.inbox.providers import (
    BadPayload,
    ProviderEvent,
    mailgun_events,
    mailgun_signature_ok,
    postmark_credentials_ok,
    postmark_events,
    sendgrid_events,
    sendgrid_signature_ok,
)
from worker.inbox.recording import record_provider_event
from worker.inbox.watcher import inbox_context

router = APIRouter(prefix="/webhooks", tags=["provider webhooks"])
SENDGRID_SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "the provider's signature or credentials do not match"},
    404: {"description": "this provider is not configured (its FOLLOWUP_* variable is unset)"},
}


class WebhookReceipt(BaseModel):
    received: int  # events in the body we act on or count
    recorded: int  # of which new
    duplicates: int  # delivered before: nothing done again


@router.post("/postmark", response_model=WebhookReceipt, responses=RESPONSES)
async def postmark(request: Request, rt: Rt, token: str | None = None) -> WebhookReceipt:
    """Postmark: HTTP Basic auth (user:password in the webhook URL), or ?token= (a secret)."""
    configured = _configured(rt.settings.postmark_webhook_auth, "postmark")
    if not postmark_credentials_ok(configured, request.headers.get("authorization"), token):
        raise HTTPException(401, "credentials do not match", {"WWW-Authenticate": "Basic"})
    return await _receive(rt, await request.body(), postmark_events)


@router.post("/sendgrid", response_model=WebhookReceipt, responses=RESPONSES)
async def sendgrid(request: Request, rt: Rt) -> WebhookReceipt:
    """SendGrid's Signed Event Webhook: ECDSA over the timestamp and the raw body."""
    key = _configured(rt.settings.sendgrid_webhook_public_key, "sendgrid")
    raw = await request.body()
    signature = request.headers.get(SENDGRID_SIGNATURE, "")
    timestamp = request.headers.get(SENDGRID_TIMESTAMP, "")
    if not (signature and timestamp and sendgrid_signature_ok(raw, signature, timestamp, key)):
        raise HTTPException(401, "the event webhook signature does not verify")
    return await _receive(rt, raw, sendgrid_events)


@router.post("/mailgun", response_model=WebhookReceipt, responses=RESPONSES)
async def mailgun(request: Request, rt: Rt) -> WebhookReceipt:
    """Mailgun: HMAC-SHA256 of the body's signature.timestamp + token with the signing key."""
    key = _configured(rt.settings.mailgun_webhook_signing_key, "mailgun")
    raw = await request.body()
    body = _json(raw)
    if not mailgun_signature_ok(body, key):
        raise HTTPException(401, "the webhook signature does not verify")
    return await _receive(rt, raw, mailgun_events, body=body)


def _configured(value: str | None, provider: str) -> str:
    if not value:
        raise HTTPException(404, f"the {provider} webhook is not configured")
    return value


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise invalid(("body",), "the body is not JSON") from None


async def _receive(
    rt: Runtime, raw: bytes, parse: Callable[[Any], list[ProviderEvent]], body: Any = None
) -> WebhookReceipt:
    try:
        events = parse(_json(raw) if body is None else body)
    except BadPayload as exc:
        raise invalid(("body",), str(exc)) from None
    return await run_in_threadpool(_record, rt, events)


def _record(rt: Runtime, events: list[ProviderEvent]) -> WebhookReceipt:
    """All of one call's events in one transaction: a retried call finds them all recorded."""
    context = inbox_context(rt)
    now = rt.clock.now()
    with transaction(rt.engine) as session:
        decisions = [record_provider_event(session, e, context, now=now) for e in events]
    duplicates = sum(d.already for d in decisions)
    return WebhookReceipt(
        received=len(decisions), recorded=len(decisions) - duplicates, duplicates=duplicates
    )
