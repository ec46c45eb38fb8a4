"""Webhook signatures, the scheme Stripe and Slack use: HMAC-SHA256 over "<t>.<raw body>"."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "Followup-Signature"
EVENT_ID_HEADER = "Followup-Event-Id"
TOLERANCE_SECONDS = 300  # receivers should refuse older signatures (replays)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `<timestamp>.<body>` with the webhook's secret."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix seconds>,v1=<hex>`: the timestamp is signed with the body, so neither can move."""
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(
    secret: str, header: str, body: bytes, now: int, tolerance: int = TOLERANCE_SECONDS
) -> bool:
    """What a receiver checks (the README shows the same in a few lines)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), parts.get("v1", ""))
