"""The slots one send takes: its mailbox's (limits, ramp) and its recipient domain's throttle,
both or neither, and given back together when nothing was delivered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from models.mailbox import DomainDay
from worker.flow.mailbox_limits import mailbox_day, release_send, reserve_send
from worker.flow.send_ledger import give_back, take
from worker.specs.team import TeamSpec
from worker.specs.throttles import Limits, ThrottleSpec


@dataclass(frozen=True)
class SendSlots:
    """What a claimed touch took, so a failed send can give exactly that back."""

    taken_at: datetime
    mailbox: str | None = None  # the address, when its sends are counted
    mailbox_day: str | None = None
    throttle: str | None = None  # the throttle's key, when the recipient's domain has one
    throttle_day: str | None = None


def take_slots(
    session: Session, *, team: TeamSpec, sender: str, recipient: str, now: datetime
) -> SendSlots | tuple[datetime, str]:
    """Both slots, or (when to try again, why) with nothing kept: the domain's first, so a
    refused domain never spends the mailbox's min_gap."""
    throttle = team.throttle_for(recipient)
    slots = SendSlots(taken_at=now)
    if throttle is not None:
        refused = _reserve_domain(session, throttle, now)
        if refused is not None:
            return refused
        slots = SendSlots(taken_at=now, throttle=throttle.key, throttle_day=_utc_day(now))
    limits = team.owner(sender)
    refused = reserve_send(session, address=sender, limits=limits, now=now)
    if refused is not None:
        give_back_slots(session, team=team, slots=slots)
        return refused
    if limits is not None and limits.limited:
        slots = SendSlots(
            taken_at=now,
            mailbox=sender,
            mailbox_day=mailbox_day(limits, now),
            throttle=slots.throttle,
            throttle_day=slots.throttle_day,
        )
    return slots


def give_back_slots(session: Session, *, team: TeamSpec, slots: SendSlots) -> None:
    if slots.mailbox is not None and slots.mailbox_day is not None:
        limits = team.owner(slots.mailbox)
        release_send(
            session,
            address=slots.mailbox,
            limits=limits,
            day=slots.mailbox_day,
            at=slots.taken_at,
        )
    if slots.throttle is not None and slots.throttle_day is not None:
        key = {"domain": slots.throttle, "day": slots.throttle_day}
        give_back(session, DomainDay, key, hour=slots.taken_at)


def _reserve_domain(
    session: Session, throttle: ThrottleSpec, now: datetime
) -> tuple[datetime, str] | None:
    refused = take(
        session,
        DomainDay,
        {"domain": throttle.key, "day": _utc_day(now)},
        Limits(cap=throttle.daily_limit, hourly=throttle.hourly_limit),
        now=now,
        day_ends=datetime.combine(
            now.astimezone(UTC).date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC
        ),
    )
    if refused is None:
        return None
    until, which = refused
    return until, f"throttle of {throttle.key} ({which})"


def _utc_day(now: datetime) -> str:
    """Throttles count per UTC day: a domain's receivers see one clock, not the mailboxes'."""
    return now.astimezone(UTC).date().isoformat()
