"""At-risk rules: the moment passed, the deadline unmet, and no email on its way to meet it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from worker.compliance.risk import (
    FIRST_TOUCH,
    TOUCHES,
    RiskFacts,
    cleared_risk,
    due_risks,
    most_urgent,
)

T0 = datetime(2026, 12, 7, 14, tzinfo=UTC)
H = timedelta(hours=1)


def facts(**changes: object) -> RiskFacts:
    base: dict[str, object] = {
        "first_risk_at": T0 + 3 * H,
        "first_due_at": T0 + 4 * H,
        "window_risk_at": T0 + 75 * H,
        "window_due_at": T0 + 100 * H,
        "touches": 0,
        "min_touches": 3,
        "email_on_its_way": None,
        "recorded": frozenset(),
    }
    return RiskFacts(**{**base, **changes})  # type: ignore[arg-type]  # the fields above


def test_nothing_is_at_risk_before_its_moment() -> None:
    """Before 75% of the first window: nothing to record, look again at that moment."""
    assert due_risks(facts(), T0 + H) == ([], T0 + 3 * H)


def test_an_unmet_deadline_past_its_moment_is_at_risk_once() -> None:
    """At the moment it is recorded; once recorded it is never returned again."""
    assert due_risks(facts(), T0 + 3 * H) == ([(T0 + 3 * H, FIRST_TOUCH)], T0 + 75 * H)
    recorded = facts(recorded=frozenset({FIRST_TOUCH}))
    assert due_risks(recorded, T0 + 3 * H) == ([], T0 + 75 * H)


def test_a_met_deadline_is_never_at_risk() -> None:
    """One touch meets the first deadline; three the window."""
    assert due_risks(facts(touches=3), T0 + 80 * H) == ([], None)


def test_the_email_that_would_meet_it_being_on_its_way_postpones_the_risk() -> None:
    """The last touch needed is an email due before the deadline: look again after it was due."""
    waiting = facts(touches=2, email_on_its_way=T0 + 90 * H)
    assert due_risks(waiting, T0 + 76 * H) == ([], T0 + 90 * H + timedelta(minutes=5))
    late = facts(touches=2, email_on_its_way=T0 + 101 * H)  # after the deadline: no help
    assert due_risks(late, T0 + 76 * H) == ([(T0 + 75 * H, TOUCHES)], None)
    short = facts(touches=1, email_on_its_way=T0 + 90 * H)  # two missing: one email is not enough
    assert due_risks(short, T0 + 76 * H)[0] == [(T0 + 75 * H, TOUCHES)]


def test_touches_wins_and_only_a_touch_clears_the_first_deadline() -> None:
    """The window's risk outlives a touch; the first touch's does not."""
    assert most_urgent(FIRST_TOUCH, [TOUCHES]) == TOUCHES
    assert most_urgent(None, [FIRST_TOUCH]) == FIRST_TOUCH
    assert cleared_risk(FIRST_TOUCH, 1) is None
    assert cleared_risk(TOUCHES, 1) == TOUCHES
