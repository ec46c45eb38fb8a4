"""The chaos sink's decisions (testkit/chaos/sink_plan.py): seeded, per Message-ID attempt."""

from __future__ import annotations

import pytest

from testkit.chaos.sink_plan import SinkPlan, Verdict, data_verdict, hang_left, rcpt_refused


def verdicts(plan: SinkPlan, attempt: int = 1, count: int = 2000) -> list[Verdict]:
    return [data_verdict(plan, f"<m{n}@x>", attempt) for n in range(count)]


def test_the_same_seed_answers_the_same_message_the_same_way() -> None:
    """Given one plan, then a Message-ID's n-th attempt always gets the same answer."""
    plan = SinkPlan(seed=7, try_later_fraction=0.3, closing_fraction=0.02)
    assert verdicts(plan) == verdicts(plan)
    assert verdicts(plan) != verdicts(SinkPlan(seed=8, try_later_fraction=0.3))


def test_fractions_of_attempts_are_refused_about_as_asked() -> None:
    """Given 30% 451 and 2% 421, then about that share of 2000 attempts get each."""
    answers = verdicts(SinkPlan(seed=1, try_later_fraction=0.3, closing_fraction=0.02))
    assert 0.26 < answers.count(Verdict.TRY_LATER) / 2000 < 0.34
    assert 0.005 < answers.count(Verdict.CLOSING) / 2000 < 0.04


def test_a_retry_draws_again() -> None:
    """Given 50% 451, then a Message-ID refused once is not refused on every attempt."""
    plan = SinkPlan(seed=3, try_later_fraction=0.5)
    first, second = verdicts(plan, 1), verdicts(plan, 2)
    assert any(a != b for a, b in zip(first, second, strict=True))


def test_late_answers_hit_first_attempts_only() -> None:
    """Given every first attempt answered late, then the resend is answered at once."""
    plan = SinkPlan(seed=1, late_fraction=1.0, late_seconds=5)
    assert set(verdicts(plan, 1)) == {Verdict.LATE}
    assert set(verdicts(plan, 2)) == {Verdict.ACCEPTED}


def test_listed_recipients_are_refused_at_rcpt_whatever_their_case() -> None:
    """Given a reject list, then those addresses (any case) are refused and others are not."""
    plan = SinkPlan.from_json('{"reject_rcpts": ["Bad@Example.com"]}')
    assert rcpt_refused(plan, "bad@example.COM") and not rcpt_refused(plan, "ok@example.com")


def test_the_sink_stays_silent_until_the_hang_ends() -> None:
    """Given a hang until t=100, then 40 s are left at t=60 and none after."""
    plan = SinkPlan(hang_until=100.0)
    assert (hang_left(plan, 60.0), hang_left(plan, 101.0)) == (40.0, 0.0)


def test_a_plan_survives_its_json_and_a_typo_is_named() -> None:
    """Given a plan written and read back, then it is equal; an unknown field is one line."""
    plan = SinkPlan(seed=5, reject_rcpts=("a@example.com",), delay_seconds=0.5)
    assert SinkPlan.from_json(plan.to_json()) == plan
    with pytest.raises(ValueError, match=r"unknown field.*try_later"):
        SinkPlan.from_json('{"try_later": 0.3}')
