"""API keys: a random key is shown once; only its sha256 is stored, so the database leaks none."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlmodel import Session, col, select

from models.apikey import ApiKey

KEY_PREFIX = "fu_"  # makes a followup key recognisable in a secret scanner or a config file
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$"


class ApiKeyError(Exception):
    """A one-line reason a key could not be created or revoked."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def create_key(session: Session, name: str, *, now: datetime) -> str:
    """A new key for `name`, returned once; a revoked name can be given a new key."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = session.exec(select(ApiKey).where(ApiKey.name == name)).first()
    if row is not None and row.revoked_at is None:
        raise ApiKeyError(f"an API key named {name!r} already exists; revoke it first")
    if row is None:
        row = ApiKey(name=name, key_hash=hash_key(key), created_at=now)
    else:
        row.key_hash, row.created_at, row.revoked_at = hash_key(key), now, None
    session.add(row)
    session.flush()
    return key


def revoke_key(session: Session, name: str, *, now: datetime) -> None:
    """Stop a key from working; its row stays, with the time it was revoked."""
    row = session.exec(select(ApiKey).where(ApiKey.name == name)).first()
    if row is None:
        raise ApiKeyError(f"no API key named {name!r}")
    if row.revoked_at is None:
        row.revoked_at = now
        session.add(row)


def verify_key(session: Session, key: str) -> str | None:
    """The name of the live key `key` is, else None."""
    if not key or len(key) > 200:
        return None
    live = col(ApiKey.revoked_at).is_(None)
    return session.exec(select(ApiKey.name).where(ApiKey.key_hash == hash_key(key), live)).first()


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.exec(select(ApiKey).order_by(col(ApiKey.name))))
