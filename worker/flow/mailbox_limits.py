"""Mailbox send limits (`daily_limit`, `hourly_limit`, `min_gap`, `ramp` in team.yaml), counted
in the database so they hold across every worker thread and process."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from models.mailbox import MailboxDay
from worker.flow.send_ledger import give_back, take
from worker.specs.calendar import local_to_utc
from worker.specs.team import OwnerSpec
from worker.specs.throttles import Limits


def mailbox_day(limits: OwnerSpec, now: datetime) -> str:
    """The mailbox's local date, the key its daily count is kept under."""
    return _local_date(limits, now).isoformat()


def _local_date(limits: OwnerSpec, now: datetime) -> date:
    return now.astimezone(ZoneInfo(limits.timezone or "UTC")).date()


def first_day(session: Session, address: str, limits: OwnerSpec, now: datetime) -> date:
    """Day one of the mailbox's ramp: `since`, else its first day in the ledger, else today."""
    if limits.ramp is not None and limits.ramp.since is not None:
        return limits.ramp.since
    first = session.exec(
        select(func.min(MailboxDay.day)).where(
            MailboxDay.address == address, col(MailboxDay.used) > 0
        )
    ).one()
    return date.fromisoformat(first) if first else _local_date(limits, now)


def cap_today(session: Session, address: str, limits: OwnerSpec, now: datetime) -> int | None:
    """Today's daily cap: the smaller of the ramp and daily_limit (None: no daily cap)."""
    if limits.daily_limit is None or limits.ramp is None:
        return limits.daily_limit
    start = first_day(session, address, limits, now)
    return limits.ramp.cap(day=_local_date(limits, now), first_day=start, limit=limits.daily_limit)


def mailbox_limits(session: Session, address: str, limits: OwnerSpec, now: datetime) -> Limits:
    gap = limits.min_gap.fixed if limits.min_gap is not None else None
    return Limits(cap=cap_today(session, address, limits, now), hourly=limits.hourly_limit, gap=gap)


def reserve_send(
    session: Session, *, address: str, limits: OwnerSpec | None, now: datetime
) -> tuple[datetime, str] | None:
    """Take one send slot (compare-and-set): None when taken, else when the next slot opens
    and which limit refused."""
    if limits is None or not limits.limited:
        return None
    day = mailbox_day(limits, now)
    refused = take(
        session,
        MailboxDay,
        {"address": address, "day": day},
        mailbox_limits(session, address, limits, now),
        now=now,
        day_ends=_next_midnight(limits, now),
    )
    if refused is None:
        return None
    until, which = refused
    return until, f"mailbox limit of {address} ({which})"


def _next_midnight(limits: OwnerSpec, now: datetime) -> datetime:
    zone = ZoneInfo(limits.timezone or "UTC")
    return local_to_utc(_local_date(limits, now) + timedelta(days=1), 0, zone)


def release_send(
    session: Session, *, address: str, limits: OwnerSpec | None, day: str, at: datetime
) -> None:
    """Give a slot back when nothing was delivered with it (`at`: when it was taken)."""
    if limits is None or not limits.limited:
        return
    give_back(session, MailboxDay, {"address": address, "day": day}, hour=at)
