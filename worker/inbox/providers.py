"""Postmark, SendGrid and Mailgun events -> inbox outcomes, and each provider's signature check."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from models.inbound import InboundOutcome as Outcome
from worker.inbox.parsing import address, message_ids

PROVIDERS = ("postmark", "sendgrid", "mailgun")  # each one's events are the "mailbox" of its rows
POSTMARK_BOUNCES = {
    "HardBounce": Outcome.BOUNCE,
    "BadEmailAddress": Outcome.BOUNCE,
    "Transient": Outcome.BOUNCE_TEMPORARY,
    "SoftBounce": Outcome.BOUNCE_TEMPORARY,
    "DnsError": Outcome.BOUNCE_TEMPORARY,
    "Blocked": Outcome.BOUNCE_TEMPORARY,
    "AutoResponder": Outcome.AUTO_REPLY,
    "SpamNotification": Outcome.COMPLAINT,
    "SpamComplaint": Outcome.COMPLAINT,
    "Unsubscribe": Outcome.UNSUBSCRIBE,
}
POSTMARK_SUPPRESSIONS = {
    "HardBounce": Outcome.BOUNCE,
    "SpamComplaint": Outcome.COMPLAINT,
    "ManualSuppression": Outcome.UNSUBSCRIBE,
}
SENDGRID_EVENTS = {
    "deferred": Outcome.BOUNCE_TEMPORARY,
    "delivered": Outcome.DELIVERED,
    "spamreport": Outcome.COMPLAINT,
    "unsubscribe": Outcome.UNSUBSCRIBE,
    "group_unsubscribe": Outcome.UNSUBSCRIBE,
}
SENDGRID_DROPS = {
    "Bounced Address": Outcome.BOUNCE,
    "Invalid": Outcome.BOUNCE,
    "Unsubscribed Address": Outcome.UNSUBSCRIBE,
    "Spam Reporting Address": Outcome.COMPLAINT,
}
MAILGUN_EVENTS = {
    "complained": Outcome.COMPLAINT,
    "unsubscribed": Outcome.UNSUBSCRIBE,
    "delivered": Outcome.DELIVERED,
}


class BadPayload(ValueError):
    """The body is not the provider's event format."""


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    provider: str
    event_id: str  # the provider's own id: the same event delivered again is the same row
    outcome: Outcome
    rule: str
    address: str | None
    message_id: str | None = None  # our Message-ID, when the provider reports it


def postmark_events(body: Any) -> list[ProviderEvent]:
    """One webhook call carries one record: Bounce, SpamComplaint, SubscriptionChange, Delivery."""
    if not isinstance(body, dict) or not isinstance(body.get("RecordType"), str):
        raise BadPayload("expected a Postmark webhook object with a RecordType")
    kind = body["RecordType"]
    if kind == "Bounce":
        outcome = POSTMARK_BOUNCES.get(str(body.get("Type")))
        ident, rule = f"bounce:{body.get('ID')}", f"Postmark Bounce, Type: {body.get('Type')}"
        who = body.get("Email")
    elif kind == "SpamComplaint":
        outcome, ident = Outcome.COMPLAINT, f"complaint:{body.get('ID')}"
        rule, who = "Postmark SpamComplaint", body.get("Email")
    elif kind == "SubscriptionChange":
        reason = str(body.get("SuppressionReason"))
        outcome = POSTMARK_SUPPRESSIONS.get(reason) if body.get("SuppressSending") else None
        ident = (
            f"subscription:{body.get('MessageID')}:{body.get('Recipient')}:{body.get('ChangedAt')}"
        )
        rule, who = (
            f"Postmark SubscriptionChange, SuppressionReason: {reason}",
            body.get("Recipient"),
        )
    elif kind == "Delivery":
        outcome, ident = (
            Outcome.DELIVERED,
            f"delivery:{body.get('MessageID')}:{body.get('Recipient')}",
        )
        rule, who = "Postmark Delivery", body.get("Recipient")
    else:
        return []  # opens, clicks: nothing to act on
    if outcome is None:
        return []
    return [ProviderEvent("postmark", ident, outcome, rule, address(_text(who)))]


def sendgrid_events(body: Any) -> list[ProviderEvent]:
    """A batch (JSON array) of events; engagement events (open, click) are skipped."""
    if not isinstance(body, list):
        raise BadPayload("expected a SendGrid event array")
    events = []
    for item in body:
        if not isinstance(item, dict):
            raise BadPayload("every SendGrid event must be an object")
        found = _sendgrid_outcome(item)
        if found is None:
            continue
        outcome, rule = found
        ident = str(item.get("sg_event_id") or _digest(item))
        ids = message_ids(_text(item.get("smtp-id")), limit=1)
        who = address(_text(item.get("email")))
        events.append(ProviderEvent("sendgrid", ident, outcome, rule, who, ids[0] if ids else None))
    return events


def _sendgrid_outcome(item: dict[str, Any]) -> tuple[Outcome, str] | None:
    kind = str(item.get("event"))
    detail = " ".join(str(item.get(k)) for k in ("status", "reason", "type") if item.get(k))
    if kind == "bounce":  # type "blocked" is a refusal that may pass later, "bounce" is final
        blocked = item.get("type") == "blocked"
        return (
            Outcome.BOUNCE_TEMPORARY if blocked else Outcome.BOUNCE
        ), f"SendGrid bounce ({detail})"
    if kind == "dropped":
        outcome = SENDGRID_DROPS.get(str(item.get("reason")))
        return (outcome, f"SendGrid dropped ({detail})") if outcome else None
    outcome = SENDGRID_EVENTS.get(kind)
    return (outcome, f"SendGrid {kind}" + (f" ({detail})" if detail else "")) if outcome else None


def mailgun_events(body: Any) -> list[ProviderEvent]:
    """{"signature": {...}, "event-data": {...}}: failed (permanent/temporary), complained, ..."""
    data = body.get("event-data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise BadPayload("expected a Mailgun webhook object with event-data")
    kind = str(data.get("event"))
    if kind == "failed":
        permanent = data.get("severity") == "permanent"
        outcome = Outcome.BOUNCE if permanent else Outcome.BOUNCE_TEMPORARY
        status = _object(data.get("delivery-status"))
        why = status.get("description") or status.get("message") or ""
        rule = f"Mailgun failed, severity {data.get('severity')} ({status.get('code', '')} {why})"
    elif kind in MAILGUN_EVENTS:
        outcome, rule = MAILGUN_EVENTS[kind], f"Mailgun {kind}"
    else:
        return []
    raw_id = _text(_object(_object(data.get("message")).get("headers")).get("message-id"))
    message_id = f"<{raw_id.strip('<>')}>" if raw_id and "@" in raw_id else None
    ident = str(data.get("id") or _digest(data))
    return [
        ProviderEvent(
            "mailgun", ident, outcome, rule, address(_text(data.get("recipient"))), message_id
        )
    ]


def mailgun_signature_ok(body: Any, signing_key: str) -> bool:
    """HMAC-SHA256 of timestamp + token with the webhook signing key, as hex."""
    signature = body.get("signature") if isinstance(body, dict) else None
    if not isinstance(signature, dict):
        return False
    timestamp, token = _text(signature.get("timestamp")), _text(signature.get("token"))
    given = _text(signature.get("signature"))
    if not (timestamp and token and given):
        return False
    expected = hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), given)


def sendgrid_signature_ok(raw: bytes, signature: str, timestamp: str, public_key: str) -> bool:
    """ECDSA (P-256, SHA-256) over timestamp + raw body with the Signed Event Webhook's key."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    try:
        key = load_der_public_key(base64.b64decode(public_key))
        signed = base64.b64decode(signature, validate=True)
    except (ValueError, binascii.Error):
        return False
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return False
    try:
        key.verify(signed, timestamp.encode() + raw, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def postmark_credentials_ok(configured: str, authorization: str | None, token: str | None) -> bool:
    """`user:password` is checked as HTTP Basic auth; a value without ':' as a ?token= secret."""
    if ":" not in configured:
        return token is not None and hmac.compare_digest(token.encode(), configured.encode())
    if not authorization or not authorization.lower().startswith("basic "):
        return False
    try:
        given = base64.b64decode(authorization[6:].strip(), validate=True)
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(given, configured.encode())


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _digest(item: dict[str, Any]) -> str:
    """An event without an id is identified by its content: a redelivery has the same one."""
    return hashlib.sha256(json.dumps(item, sort_keys=True, default=str).encode()).hexdigest()[:40]
