"""The guardrail arithmetic: no verdict before the minimum sends, a rate must pass (not meet)
its threshold, bounces are judged before complaints; and team.yaml's guardrails: at file:line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from testkit.harness import write_files
from worker.specs.catalog import CatalogError, load_catalog
from worker.specs.guardrails import GuardrailSpec
from worker.specs.rendering import Renderer

RULE = GuardrailSpec()


def test_the_defaults_are_the_documented_safe_ones() -> None:
    """On, 7 days, 50 sends, 5% hard bounces (GoHighLevel's suspension line), 0.3% complaints
    (Gmail's and Yahoo's line)."""
    assert (RULE.enabled, RULE.span, RULE.min_sends) == (True, timedelta(days=7), 50)
    assert (RULE.max_bounce_rate, RULE.max_complaint_rate) == (0.05, 0.003)


@pytest.mark.parametrize(
    ("sends", "bounces", "complaints", "tripped"),
    [
        (49, 49, 49, False),  # under min_sends nothing is judged, however bad
        (50, 0, 0, False),
        (100, 5, 0, False),  # exactly 5% does not pass 5%
        (100, 6, 0, True),
        (50, 3, 0, True),  # 6%
        (1000, 3, 0, False),
        (1000, 0, 3, False),  # exactly 0.3%
        (1000, 0, 4, True),
        (50, 0, 1, True),  # one complaint in 50 sends is 2%
    ],
)
def test_a_rate_must_pass_its_threshold_after_the_minimum_sends(
    sends: int, bounces: int, complaints: int, tripped: bool
) -> None:
    """The verdict, case by case."""
    verdict = RULE.verdict(sends=sends, bounces=bounces, complaints=complaints)
    assert (verdict is not None) == tripped


def test_the_reason_says_which_rate_and_how_far() -> None:
    """Bounces first: the reason names the count, the sends, the rate and the threshold."""
    reason = RULE.verdict(sends=200, bounces=20, complaints=5)
    assert reason == "hard bounces 20 of 200 sends (10.0%) passed 5.0%"
    assert RULE.verdict(sends=200, bounces=0, complaints=2) == (
        "complaints 2 of 200 sends (1.00%) passed 0.30%"
    )


def test_disabled_guardrails_never_pause_and_windows_have_a_length() -> None:
    """enabled: false turns them off; 2w is 14 days, 36h is 36 hours."""
    off = GuardrailSpec(enabled=False)
    assert off.verdict(sends=100, bounces=100, complaints=100) is None
    assert GuardrailSpec.model_validate({"window": "2w"}).span == timedelta(days=14)
    assert GuardrailSpec.model_validate({"window": "36h"}).span == timedelta(hours=36)


@pytest.mark.parametrize(
    ("team", "line", "fragment"),
    [
        ("guardrails:\n  window: 3 business days\n", 2, "not business days"),
        ("guardrails:\n  max_bounce_rate: 0\n", 2, "greater than 0"),
        ("guardrails:\n  max_complaint_rate: 2\n", 2, "less than or equal to 1"),
        ("guardrails:\n  min_sends: 0\n", 2, "greater than or equal to 1"),
        ("guardrails:\n  bounce_rate: 0.1\n", 2, "unknown key 'bounce_rate'"),
    ],
)
def test_bad_guardrails_name_team_yaml_and_the_line(
    tmp_path: Path, team: str, line: int, fragment: str
) -> None:
    """Refused before anything runs."""
    sequence = "name: s\ntrigger: lead.mql\nsteps:\n  - id: a\n    email: t/a\n"
    body = "{% block subject %}Hi{% endblock %}{% block text %}{{ unsubscribe_url }}{% endblock %}"
    write_files(tmp_path / "sequences", {"s.yaml": sequence, "team.yaml": team})
    write_files(tmp_path / "templates", {"t/a.j2": body})
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path / "sequences", Renderer(tmp_path / "templates"))
    [error] = caught.value.errors
    assert (error.path.name, error.line) == ("team.yaml", line) and fragment in error.problem
