"""At-risk rules (SPEC section 14) as pure functions: when a deadline is at risk, and when to
look again.

A deadline is at risk once its at-risk moment (alerts.at_risk_after of its window, on the SLA's
clock) has passed while it is unmet, unless the touch that would meet it is an email already
on its way to go out before the deadline: the rep need not be told about an email the sequence
is sending anyway (if it does not go out, the risk is looked at again when it was due).
`touches` wins over `first_touch` when both are at risk (a touch clears the first only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from models.enrollment import Enrollment

FIRST_TOUCH, TOUCHES = "first_touch", "touches"
RECHECK_AFTER = timedelta(minutes=5)  # after an email on its way was due: did it go out?


@dataclass(frozen=True, slots=True)
class RiskFacts:
    first_risk_at: datetime | None
    first_due_at: datetime | None
    window_risk_at: datetime | None
    window_due_at: datetime | None
    touches: int  # completed so far
    min_touches: int | None
    email_on_its_way: datetime | None  # due time of the enrollment's next waiting email touch
    recorded: frozenset[str]  # deadlines already recorded at risk


def deadline_due(enrollment: Enrollment, deadline: str) -> datetime:
    """When an enrollment's `first_touch` or `touches` deadline passes."""
    due = enrollment.sla_first_due_at if deadline == FIRST_TOUCH else enrollment.sla_window_due_at
    assert due is not None, f"the enrollment has no {deadline} deadline"
    return due


def needed(deadline: str, facts: RiskFacts) -> int:
    """Touches still missing for the deadline, while the SLA is pending."""
    if deadline == FIRST_TOUCH:
        return 0 if facts.touches else 1
    return max((facts.min_touches or 0) - facts.touches, 0)


def due_risks(
    facts: RiskFacts, now: datetime
) -> tuple[list[tuple[datetime, str]], datetime | None]:
    """(moment, deadline) to record at risk now, and when to look again (None: never)."""
    plans = (
        (facts.first_risk_at, facts.first_due_at, FIRST_TOUCH),
        (facts.window_risk_at, facts.window_due_at, TOUCHES),
    )
    newly: list[tuple[datetime, str]] = []
    later: list[datetime] = []
    for moment, due, deadline in plans:
        if moment is None or due is None or deadline in facts.recorded:
            continue
        missing = needed(deadline, facts)
        if moment > now:
            later.append(moment)
        elif missing == 0:
            continue
        elif missing == 1 and facts.email_on_its_way is not None and facts.email_on_its_way <= due:
            later.append(max(facts.email_on_its_way + RECHECK_AFTER, now + RECHECK_AFTER))
        else:
            newly.append((moment, deadline))
    return sorted(newly), min(later, default=None)


def most_urgent(current: str | None, newly: list[str]) -> str | None:
    """The deadline an enrollment is at risk for after `newly` were recorded."""
    found = {current, *newly} - {None}
    return TOUCHES if TOUCHES in found else (FIRST_TOUCH if found else None)


def cleared_risk(at_risk: str | None, touches: int) -> str | None:
    """A touch ends the first deadline's risk; only the verdict ends the window's."""
    return None if at_risk == FIRST_TOUCH and touches > 0 else at_risk
