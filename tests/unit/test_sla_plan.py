"""`followup sla plan`: the marketing SLA and the reps' capacity against worked examples."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.cli import Cli
from worker.compliance.plan import capacity_check, marketing_target, plan_sla
from worker.specs.team import SlaPlan

DAYS_PER_MONTH = 365.25 / 12
WORKED: dict[str, Any] = {
    "revenue_goal": 1_000_000,
    "period": "month",
    "marketing_share": 0.4,
    "average_deal_size": 10_000,
    "close_rate": 0.02,
}


def test_one_million_a_month_needs_two_thousand_leads() -> None:
    """Given 1,000,000 x 0.4 / 10,000 / 0.02, then 400,000 -> 40 customers -> 2,000 leads."""
    target = marketing_target(SlaPlan(**WORKED))
    assert target.marketing_revenue_goal == 400_000
    assert target.customers_needed == 40
    assert target.leads_needed == 2_000
    assert target.leads_per_week == pytest.approx(2_000 / DAYS_PER_MONTH * 7)  # 459.96
    assert target.leads_per_day == pytest.approx(2_000 / DAYS_PER_MONTH)


def test_a_quarter_spreads_the_leads_over_thirteen_weeks() -> None:
    """Given 3,000,000 a quarter, then 6,000 leads, about 461.5 a week."""
    target = marketing_target(SlaPlan(**{**WORKED, "revenue_goal": 3_000_000, "period": "quarter"}))
    assert target.leads_needed == 6_000
    assert target.leads_per_week == pytest.approx(6_000 / (365.25 / 4) * 7)


def test_part_customers_and_part_leads_round_up() -> None:
    """Given 400,000 / 30,000 = 13.3 customers, then 14 are needed, and 14 / 0.03 -> 467 leads."""
    target = marketing_target(
        SlaPlan(**{**WORKED, "average_deal_size": 30_000, "close_rate": 0.03})
    )
    assert (target.customers_needed, target.leads_needed) == (14, 467)


def test_ten_reps_six_attempts_five_minutes_fill_one_hundred_hours() -> None:
    """Given 2,000 leads, 10 reps x 6 attempts x 5 min, then each rep needs 100 h a month."""
    check = capacity_check(
        marketing_target(SlaPlan(**WORKED)),
        reps=10,
        attempts_per_lead=6,
        minutes_per_attempt=5,
        selling_hours_per_rep=100,
    )
    assert check.leads_per_rep == 200
    assert check.attempts_per_rep == 1_200
    assert check.hours_needed_per_rep == 100
    assert check.hours_needed_per_rep_per_week == pytest.approx(100 / (DAYS_PER_MONTH / 7))
    assert (check.fits, check.utilisation, check.reps_needed) == (True, 1.0, 10)


def test_a_promise_that_does_not_fit_says_what_would() -> None:
    """Given only 80 selling hours, then it warns: 13 reps, or 4 manual attempts per lead."""
    result = plan_sla(
        SlaPlan(
            **WORKED, reps=10, attempts_per_lead=6, minutes_per_attempt=5, selling_hours_per_rep=80
        )
    )
    assert result.capacity is not None
    assert (
        result.capacity.fits,
        result.capacity.reps_needed,
        result.capacity.attempts_that_fit,
    ) == (False, 13, 4)
    assert result.warning is not None
    assert "does not fit" in result.warning and "100.0 h" in result.warning
    assert "80.0 selling h" in result.warning and "13 reps" in result.warning


def test_attempts_default_to_the_sequences_promise_and_gaps_are_named() -> None:
    """Given no attempts_per_lead, then min_touches stands in; without reps, the check waits."""
    promised = plan_sla(SlaPlan(**WORKED, reps=10, minutes_per_attempt=5), promised_attempts=6)
    assert promised.capacity is not None and promised.capacity.attempts_per_lead == 6
    assert promised.capacity.fits is None and promised.missing == ("selling_hours_per_rep",)
    bare = plan_sla(SlaPlan(**WORKED))
    assert bare.capacity is None
    assert bare.missing == (
        "reps",
        "attempts_per_lead",
        "minutes_per_attempt",
        "selling_hours_per_rep",
    )


TEAM_YAML = """\
sla_plan:
  revenue_goal: 1000000
  period: month
  marketing_share: 0.4
  average_deal_size: 10000
  close_rate: 0.02
  reps: 10
  attempts_per_lead: 6
  minutes_per_attempt: 5
  selling_hours_per_rep: 100
"""


@pytest.fixture
def followup(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The CLI with a sequences folder holding only team.yaml, and no .env in the way."""
    sequences = cli.workdir / "sequences"
    sequences.mkdir()
    (sequences / "team.yaml").write_text(TEAM_YAML, encoding="utf-8")
    monkeypatch.setenv("FOLLOWUP_SEQUENCES_DIR", str(sequences))
    return cli


def _plan_json(followup: Cli, capsys: pytest.CaptureFixture[str], *flags: str) -> dict[str, Any]:
    assert followup("sla", "plan", "--format", "json", *flags) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_reads_team_yaml(followup: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    """Given team.yaml's plan, when `sla plan` runs, then it prints 2,000 leads and a fit."""
    result = _plan_json(followup, capsys)
    assert result["target"]["leads_needed"] == 2000
    assert result["capacity"]["hours_needed_per_rep"] == 100
    assert result["capacity"]["fits"] is True and result["warning"] is None


def test_cli_flags_override_the_file(followup: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    """Given --close-rate 0.04 and --selling-hours-per-rep 40, then 1,000 leads and a warning."""
    result = _plan_json(followup, capsys, "--close-rate", "0.04", "--selling-hours-per-rep", "40")
    assert result["target"]["leads_needed"] == 1000
    assert result["capacity"]["hours_needed_per_rep"] == 50
    assert result["warning"].startswith("the follow-up promise does not fit")


def test_cli_table_shows_the_warning(followup: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    """Given too few selling hours, then the table output ends with a clear warning line."""
    assert followup("sla", "plan", "--selling-hours-per-rep", "80") == 0
    out = capsys.readouterr().out
    assert "2,000" in out and "warning:" in out and "13 reps" in out


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        (["--close-rate", "2"], "close_rate: Input should be less than or equal to 1"),
        (["--period", "year"], "--period must be one of month, quarter"),
    ],
)
def test_cli_bad_values_are_one_line_and_exit_2(
    followup: Cli, capsys: pytest.CaptureFixture[str], flags: list[str], reason: str
) -> None:
    """Given a value the plan cannot take, then one line names it and the exit code is 2."""
    assert followup("sla", "plan", *flags) == 2
    err = capsys.readouterr().err
    assert reason in err and len(err.strip().splitlines()) == 1


def test_cli_without_a_plan_names_the_missing_metrics(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given no team.yaml and one flag, then it says which metrics and flags are missing."""
    monkeypatch.setenv("FOLLOWUP_SEQUENCES_DIR", str(cli.workdir / "absent"))
    assert cli("sla", "plan", "--revenue-goal", "1000000") == 2
    err = capsys.readouterr().err
    assert "marketing_share, average_deal_size, close_rate" in err
    assert "--close-rate" in err
