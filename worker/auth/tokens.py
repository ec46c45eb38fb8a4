"""Signed tokens (unsubscribe and dashboard links): itsdangerous HMAC-SHA256 over a key derived
per purpose, verified against a key ring (newest first), and read only in canonical base64."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Sequence
from functools import lru_cache

from itsdangerous import BadSignature, Signer

_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_LEGACY_SIGNATURE_CHARS = 24  # 18 bytes: the first wave's unsubscribe links


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes | None:
    """The bytes of canonical unpadded base64url, else None (other spellings of the same bytes
    would make one token many, and the validating decoder is the only one used)."""
    if not _BASE64URL.fullmatch(text):
        return None
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return data if _b64(data) == text else None


def _signer(keys: Sequence[str], purpose: str) -> Signer:
    """One derived key per purpose (HMAC of the purpose under each key): an unsubscribe MAC
    says nothing about a dashboard one. itsdangerous wants the ring oldest first."""
    return _ring_signer(tuple(keys), purpose)


@lru_cache(maxsize=16)  # a ring or two per process, each email signs with it
def _ring_signer(keys: tuple[str, ...], purpose: str) -> Signer:
    return Signer(
        [key.encode() for key in reversed(keys)],
        salt=f"followup.{purpose}",
        sep=".",
        key_derivation="hmac",
        digest_method=hashlib.sha256,
    )


def sign(value: str, *, keys: Sequence[str], purpose: str) -> str:
    """`value` and its signature in one URL-safe token, signed with the newest key."""
    return _signer(keys, purpose).sign(_b64(value.encode())).decode()


def unsign(token: str, *, keys: Sequence[str], purpose: str) -> str | None:
    """The signed value, or None unless one of `keys` signed exactly this token for `purpose`."""
    payload, dot, signature = token.partition(".")
    value = _unb64(payload)
    if not dot or value is None or _unb64(signature) is None:
        return None
    if len(signature) == _LEGACY_SIGNATURE_CHARS and purpose == "unsubscribe":
        valid = _legacy_valid(payload, signature, keys)
    else:
        try:
            _signer(keys, purpose).unsign(token)
            valid = True
        except BadSignature:
            valid = False
    try:
        return value.decode() if valid else None
    except UnicodeDecodeError:
        return None


def _legacy_valid(payload: str, signature: str, keys: Sequence[str]) -> bool:
    """Unsubscribe links of the first wave (truncated HMAC of "unsubscribe:<payload>" under the
    raw key) keep working while their key, strong enough to pass start-up, is in the ring."""
    given = _unb64(signature) or b""
    message = f"unsubscribe:{payload}".encode()
    return any(
        hmac.compare_digest(given, hmac.new(key.encode(), message, hashlib.sha256).digest()[:18])
        for key in keys
    )


def unsubscribe_url(base_url: str, email: str, *, keys: Sequence[str]) -> str:
    return f"{base_url}/unsubscribe/{sign(email, keys=keys, purpose='unsubscribe')}"
