"""One compare-and-set over a send ledger row (a mailbox's or a recipient domain's day): the
count that makes every limit hold across worker threads and processes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, inspect, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, col

from models.mailbox import SendCounter
from worker.engine.db import changed_rows
from worker.specs.throttles import Counter, Limits, hour_of, refusals


def take(
    session: Session,
    model: type[SendCounter],
    key: dict[str, Any],
    limits: Limits,
    *,
    now: datetime,
    day_ends: datetime,
) -> tuple[datetime, str] | None:
    """Count one send on the row `key` when every limit allows it: None when taken, else when
    the first refusing limit lets one through again, and which limit it was."""
    if not _held(session, model, key):  # a batch's second send from one mailbox: it exists
        try:
            with session.begin_nested():
                session.add(model(**key))
        except IntegrityError:
            pass  # the row exists (perhaps inserted concurrently): the update below decides
    matches = [getattr(model, name) == value for name, value in key.items()]
    hour = hour_of(now)
    hour_start, hour_used = col(model.hour_start), col(model.hour_used)
    conditions = list(matches)
    if limits.cap is not None:
        conditions.append(col(model.used) < limits.cap)
    if limits.hourly is not None:
        conditions.append(or_(hour_start.is_(None), hour_start != hour, hour_used < limits.hourly))
    if limits.gap is not None:
        last = col(model.last_sent_at)
        conditions.append(or_(last.is_(None), last <= now - limits.gap))
    taken = changed_rows(
        session,
        update(model)
        .where(*conditions)
        .values(
            used=col(model.used) + 1,
            last_sent_at=now,
            hour_used=case((hour_start == hour, hour_used + 1), else_=1),
            hour_start=hour,
        ),
    )
    if taken == 1:
        return None
    row = session.get(model, tuple(key.values()), populate_existing=True)
    assert row is not None
    found = refusals(counter_of(row), limits, now, day_ends)
    return max(found) if found else (now, "busy")  # changed under us: try again at once


def give_back(
    session: Session, model: type[SendCounter], key: dict[str, Any], *, hour: datetime
) -> None:
    """Undo one counted send that delivered nothing (its hour too, while it is current)."""
    hour_start, hour_used = col(model.hour_start), col(model.hour_used)
    session.execute(
        update(model)
        .where(*[getattr(model, name) == value for name, value in key.items()])
        .where(col(model.used) > 0)
        .values(
            used=col(model.used) - 1,
            hour_used=case(
                (hour_start == hour_of(hour), case((hour_used > 0, hour_used - 1), else_=0)),
                else_=hour_used,
            ),
        )
    )


def counter_of(row: SendCounter) -> Counter:
    return Counter(
        used=row.used,
        hour_start=row.hour_start,
        hour_used=row.hour_used,
        last_sent_at=row.last_sent_at,
    )


def _held(session: Session, model: type[SendCounter], key: dict[str, Any]) -> bool:
    """Whether this session already holds the row `key` (adding it again only warns, then
    fails at the INSERT)."""
    primary_key = tuple(key.get(column.key) for column in inspect(model).primary_key)
    return identity_key(model, primary_key) in session.identity_map
