"""Mailbox send limits (`daily_limit`, `min_gap` in team.yaml), counted in the database so they
hold across every worker thread and process."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from models.mailbox import MailboxDay
from worker.engine.db import changed_rows
from worker.specs.calendar import local_to_utc
from worker.specs.team import OwnerSpec


def _limited(limits: OwnerSpec | None) -> bool:
    return limits is not None and (limits.daily_limit is not None or limits.min_gap is not None)


def mailbox_day(limits: OwnerSpec, now: datetime) -> str:
    """The mailbox's local date, the key its daily count is kept under."""
    return now.astimezone(ZoneInfo(limits.timezone or "UTC")).date().isoformat()


def reserve_send(
    session: Session, *, address: str, limits: OwnerSpec | None, now: datetime
) -> datetime | None:
    """Take one send slot (compare-and-set); None when taken, else when the next slot opens."""
    if not _limited(limits):
        return None
    assert limits is not None
    day = mailbox_day(limits, now)
    try:
        with session.begin_nested():
            session.add(MailboxDay(address=address, day=day))
    except IntegrityError:
        pass  # the row exists (perhaps inserted concurrently): the update below decides
    conditions = [col(MailboxDay.address) == address, col(MailboxDay.day) == day]
    if limits.daily_limit is not None:
        conditions.append(col(MailboxDay.used) < limits.daily_limit)
    gap = (
        limits.min_gap.fixed
        if limits.min_gap is not None and not limits.min_gap.is_calendar
        else None
    )
    if gap is not None:
        conditions.append(
            or_(col(MailboxDay.last_sent_at).is_(None), col(MailboxDay.last_sent_at) <= now - gap)
        )
    taken = changed_rows(
        session,
        update(MailboxDay)
        .where(*conditions)
        .values(used=col(MailboxDay.used) + 1, last_sent_at=now),
    )
    if taken == 1:
        return None
    row = session.get(MailboxDay, (address, day), populate_existing=True)
    assert row is not None
    return _next_slot(row, limits, gap, now)


def _next_slot(
    row: MailboxDay, limits: OwnerSpec, gap: timedelta | None, now: datetime
) -> datetime:
    """When a refused send may try again: tomorrow at local midnight, or once the gap passed."""
    if limits.daily_limit is not None and row.used >= limits.daily_limit:
        zone = ZoneInfo(limits.timezone or "UTC")
        tomorrow = now.astimezone(zone).date() + timedelta(days=1)
        return local_to_utc(tomorrow, 0, zone)
    assert gap is not None and row.last_sent_at is not None
    return row.last_sent_at + gap


def release_send(session: Session, *, address: str, limits: OwnerSpec | None, day: str) -> None:
    """Give a slot back when nothing was delivered with it."""
    if not _limited(limits):
        return
    session.execute(
        update(MailboxDay)
        .where(
            col(MailboxDay.address) == address, col(MailboxDay.day) == day, col(MailboxDay.used) > 0
        )
        .values(used=col(MailboxDay.used) - 1)
    )
