"""Signed read-only links to the dashboard: the expiry travels inside the signed value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from worker.auth.tokens import sign, unsign

PURPOSE = "dashboard"
DEFAULT_DAYS = 7
MAX_DAYS = 366
_VERSION = "v1"


def dashboard_token(*, secret: str, now: datetime, days: int = DEFAULT_DAYS) -> str:
    """A token good for `days` from `now`: it lets its holder read the dashboard, nothing else."""
    expires = int((now + timedelta(days=days)).timestamp())
    return sign(f"{_VERSION}:{expires}", secret=secret, purpose=PURPOSE)


def token_expiry(token: str, *, secret: str) -> datetime | None:
    """When a genuine token stops working; None for anything not signed by us for the dashboard."""
    value = unsign(token, secret=secret, purpose=PURPOSE)
    version, _, expires = (value or "").partition(":")
    if version != _VERSION or not expires.isdigit():
        return None
    return datetime.fromtimestamp(int(expires), tz=UTC)


def token_valid(token: str, *, secret: str, now: datetime) -> bool:
    expiry = token_expiry(token, secret=secret)
    return expiry is not None and now < expiry


def dashboard_link(base_url: str, *, secret: str, now: datetime, days: int = DEFAULT_DAYS) -> str:
    token = dashboard_token(secret=secret, now=now, days=days)
    return f"{base_url.rstrip('/')}/compliance?token={token}"
