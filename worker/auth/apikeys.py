"""API keys: a random key is shown once; only its sha256 is stored, so the database leaks none.
Each key carries scopes, the routes it may use (admin: all of them)."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from models.apikey import ApiKey
from worker.engine.tunables import API_KEY_CACHE

KEY_PREFIX = "fu_"  # makes a followup key recognisable in a secret scanner or a config file
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$"
ADMIN = "admin"
SCOPES = ("events:write", "leads:read", "leads:write", "compliance:read", ADMIN)
# `followup apikey create` without --scope: what a CRM integration needs, and nothing more.
DEFAULT_SCOPES = ("events:write",)


class ApiKeyError(Exception):
    """A one-line reason a key could not be created or revoked."""


@dataclass(frozen=True, slots=True)
class KeyHolder:
    """Who presented a live key, and what it may do."""

    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return ADMIN in self.scopes or scope in self.scopes


class LiveKeys:
    """Live keys seen lately, by (database, key hash), for API_KEY_CACHE: an API request then
    skips a read transaction. Unknown keys are never kept; creating or revoking a key in this
    process forgets them all at once."""

    def __init__(self, ttl: float = API_KEY_CACHE.total_seconds()) -> None:
        self._ttl = ttl
        self._seen: dict[tuple[str, str], tuple[KeyHolder, float]] = {}
        self._lock = threading.Lock()

    def get(self, database: str, digest: str) -> KeyHolder | None:
        with self._lock:
            holder, until = self._seen.get((database, digest), (None, 0.0))
        return holder if time.monotonic() < until else None

    def put(self, database: str, digest: str, holder: KeyHolder) -> None:
        with self._lock:
            self._seen[(database, digest)] = (holder, time.monotonic() + self._ttl)

    def forget(self) -> None:
        with self._lock:
            self._seen.clear()


LIVE_KEYS = LiveKeys()  # one per process


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """Known scopes, each once, in the order of SCOPES; ApiKeyError names an unknown one."""
    wanted = {scope.strip() for scope in scopes if scope.strip()}
    unknown = sorted(wanted - set(SCOPES))
    if unknown:
        raise ApiKeyError(f"unknown scope {unknown[0]!r} (use {', '.join(SCOPES)})")
    if not wanted:
        raise ApiKeyError(f"a key needs at least one scope ({', '.join(SCOPES)})")
    return tuple(scope for scope in SCOPES if scope in wanted)


def create_key(
    session: Session, name: str, *, now: datetime, scopes: Iterable[str] = (ADMIN,)
) -> str:
    """A new key for `name`, returned once; a revoked name can be given a new key.

    Code that makes keys itself (tests, the demo) gets full access unless it says otherwise;
    `followup apikey create` defaults to DEFAULT_SCOPES.
    """
    granted = " ".join(check_scopes(scopes))
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = session.exec(select(ApiKey).where(ApiKey.name == name)).first()
    if row is not None and row.revoked_at is None:
        raise ApiKeyError(f"an API key named {name!r} already exists; revoke it first")
    if row is None:
        row = ApiKey(name=name, key_hash=hash_key(key), scopes=granted, created_at=now)
    else:
        row.key_hash, row.scopes, row.created_at, row.revoked_at = hash_key(key), granted, now, None
    session.add(row)
    session.flush()
    LIVE_KEYS.forget()
    return key


def revoke_key(session: Session, name: str, *, now: datetime) -> None:
    """Stop a key from working; its row stays, with the time it was revoked."""
    row = session.exec(select(ApiKey).where(ApiKey.name == name)).first()
    if row is None:
        raise ApiKeyError(f"no API key named {name!r}")
    if row.revoked_at is None:
        row.revoked_at = now
        session.add(row)
    LIVE_KEYS.forget()


def verify_key(session: Session, key: str) -> KeyHolder | None:
    """Who holds the live key `key`, with its scopes; else None."""
    if not key or len(key) > 200:
        return None
    live = col(ApiKey.revoked_at).is_(None)
    row = session.exec(
        select(ApiKey.name, ApiKey.scopes).where(ApiKey.key_hash == hash_key(key), live)
    ).first()
    return KeyHolder(row[0], frozenset(row[1].split())) if row else None


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.exec(select(ApiKey).order_by(col(ApiKey.name))))
