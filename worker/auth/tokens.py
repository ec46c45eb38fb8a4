"""Signed tokens: unsubscribe links and read-only dashboard links (HMAC-SHA256)."""

from __future__ import annotations

import base64
import hashlib
import hmac


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(value: str, *, secret: str, purpose: str) -> str:
    """`value` and its signature in one URL-safe token; `purpose` keeps token kinds apart."""
    payload = _b64(value.encode())
    mac = hmac.new(secret.encode(), f"{purpose}:{payload}".encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(mac[:18])}"


def unsign(token: str, *, secret: str, purpose: str) -> str | None:
    """The signed value, or None when the token was not made with this secret and purpose."""
    payload, _, signature = token.partition(".")
    if not payload or not signature:
        return None
    expected = hmac.new(secret.encode(), f"{purpose}:{payload}".encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(_unb64(signature), expected[:18]):
            return None
        return _unb64(payload).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def unsubscribe_url(base_url: str, email: str, *, secret: str) -> str:
    return f"{base_url}/unsubscribe/{sign(email, secret=secret, purpose='unsubscribe')}"
