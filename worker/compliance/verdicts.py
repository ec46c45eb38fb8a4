"""SLA verdict rules (SPEC section 11) as one pure function over the facts of an enrollment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from models.enrollment import SlaStatus
from worker.specs.sequences import ENGAGEMENT_EVENTS

# A deadline has passed once the clock is strictly past it: a touch exactly at it still counts.
GRACE = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class SlaTerms:
    first_due: datetime | None  # first completed touch no later than this
    window_due: datetime | None  # ... and min_touches completed no later than this
    min_touches: int | None


@dataclass(frozen=True, slots=True)
class Exit:
    at: datetime
    reason: str  # the event type (email.replied, lead.unsubscribed, ...) or "stopped"


@dataclass(frozen=True, slots=True)
class Verdict:
    status: SlaStatus
    reason: str | None = None
    decided_at: datetime | None = None
    next_check_at: datetime | None = None  # pending only: when a deadline will have passed


def evaluate_sla(
    terms: SlaTerms, touch_times: Sequence[datetime], exit: Exit | None, now: datetime
) -> Verdict:
    """The verdict as of `now`: whichever came first decides, met, exit, or a passed deadline."""
    touches = sorted(touch_times)
    met_at = _met_at(terms, touches)
    breach = _first_breach(terms, touches)
    if met_at is not None and (exit is None or met_at <= exit.at):
        return Verdict(SlaStatus.MET, "touches", met_at)
    if exit is not None and (breach is None or exit.at <= breach[0]):
        return _exit_verdict(exit)
    if breach is not None and breach[0] < now:
        return Verdict(SlaStatus.BREACHED, breach[1], breach[0])
    deadlines = [d for d in (terms.first_due, terms.window_due) if d is not None and d >= now]
    next_check = min(deadlines) + GRACE if deadlines else None
    return Verdict(SlaStatus.PENDING, next_check_at=next_check)


def _met_at(terms: SlaTerms, touches: list[datetime]) -> datetime | None:
    moments = []
    if terms.first_due is not None:
        if not touches or touches[0] > terms.first_due:
            return None
        moments.append(touches[0])
    if terms.window_due is not None and terms.min_touches is not None:
        if len(touches) < terms.min_touches or touches[terms.min_touches - 1] > terms.window_due:
            return None
        moments.append(touches[terms.min_touches - 1])
    return max(moments) if moments else None


def _first_breach(terms: SlaTerms, touches: list[datetime]) -> tuple[datetime, str] | None:
    breaches = []
    if terms.first_due is not None and (not touches or touches[0] > terms.first_due):
        breaches.append((terms.first_due, "first_touch_late"))
    if terms.window_due is not None and terms.min_touches is not None:
        on_time = sum(1 for t in touches if t <= terms.window_due)
        if on_time < terms.min_touches:
            breaches.append((terms.window_due, "too_few_touches"))
    return min(breaches) if breaches else None


def _exit_verdict(exit: Exit) -> Verdict:
    if exit.reason in ENGAGEMENT_EVENTS:
        return Verdict(SlaStatus.MET, "engaged", exit.at)
    return Verdict(SlaStatus.EXCLUDED, exit.reason, exit.at)  # unsubscribed, bounced, stopped
