"""Signed read-only links to the dashboard: each is a stored row (so it can be revoked on its
own) whose id and expiry travel inside the signed value."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, select

from models.dashboard_link import DashboardLink
from worker.auth.tokens import sign, unsign

PURPOSE = "dashboard"
DEFAULT_DAYS = 7
MAX_DAYS = 30  # a link is a bearer secret in someone's chat or mailbox: it should not last
_VERSION = "v2"  # v1 links carried no id, so they could not be revoked: no longer accepted


class LinkError(Exception):
    """A one-line reason a link could not be revoked."""


def create_link(
    session: Session,
    *,
    keys: Sequence[str],
    base_url: str,
    now: datetime,
    days: int = DEFAULT_DAYS,
    note: str | None = None,
) -> tuple[DashboardLink, str]:
    """A stored link good for `days` from `now`, and its URL (shown once; only the row stays)."""
    row = DashboardLink(note=note, created_at=now, expires_at=now + timedelta(days=days))
    session.add(row)
    session.flush()
    token = sign(
        f"{_VERSION}:{row.id}:{int(row.expires_at.timestamp())}", keys=keys, purpose=PURPOSE
    )
    return row, f"{base_url.rstrip('/')}/compliance?token={token}"


def read_token(token: str, *, keys: Sequence[str]) -> tuple[int, datetime] | None:
    """(link id, expiry) of a genuine dashboard token; None for anything else."""
    version, _, rest = (unsign(token, keys=keys, purpose=PURPOSE) or "").partition(":")
    link_id, _, expires = rest.partition(":")
    if version != _VERSION or not link_id.isdigit() or not expires.isdigit():
        return None
    return int(link_id), datetime.fromtimestamp(int(expires), tz=UTC)


def token_valid(session: Session, token: str, *, keys: Sequence[str], now: datetime) -> bool:
    """Signed by us, unexpired, and its link neither revoked nor deleted (one lookup by id)."""
    found = read_token(token, keys=keys)
    if found is None or now >= found[1]:
        return False
    row = session.get(DashboardLink, found[0])
    return row is not None and row.revoked_at is None and now < row.expires_at


def revoke_link(session: Session, link_id: int, *, now: datetime) -> DashboardLink:
    """Stop one link at once; the others keep working."""
    row = session.get(DashboardLink, link_id)
    if row is None:
        raise LinkError(f"no dashboard link {link_id} (see `followup compliance link --list`)")
    if row.revoked_at is None:
        row.revoked_at = now
        session.add(row)
    return row


def list_links(session: Session) -> list[DashboardLink]:
    return list(session.exec(select(DashboardLink).order_by(col(DashboardLink.id))))
