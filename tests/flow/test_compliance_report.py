"""Three owners with known behaviour: the report's counts, computed here by hand, field by field."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from models.enrollment import Enrollment
from models.touch import Touch
from testkit.harness import Harness, Harnesses
from tests.support.cli import Cli
from tests.support.three_owners import FILES, TEMPLATES, play_three_owners
from worker.compliance.dashboard import dashboard_html
from worker.compliance.export import report_csv, report_json
from worker.compliance.report import build_report
from worker.engine.db import transaction

ROW_FIELDS = (
    "enrolled",
    "met",
    "breached",
    "breached_first_touch_late",
    "breached_too_few_touches",
    "pending",
    "excluded",
    "touches",
    "touches_automated",
    "touches_manual",
    "unworked",
    "compliance_rate",
    "median_first_touch_seconds",
    "p90_first_touch_seconds",
    "strikes",
    "revenue_at_risk",
)

# Worked by hand from `play_three_owners` (tests/support/three_owners.py), first touches in
# seconds after enrolling:
#   ana: a1 met (intro 600, call, wrap), a2 met (call at 1200, thanks), a3 met by replying
#        (intro 600), a4 met (call at 5400, thanks) -> firsts [600, 600, 1200, 5400]
#   ben: b1 and b4 too few touches (intro 600 only), b2 never called (unworked), b3 called at
#        18000, after its 2h deadline -> firsts [600, 600, 18000]
#   cy:  c1 unsubscribed (excluded, intro 600), c2 met by a logged call at 3600, c4 never
#        called (unworked), c3 enrolled on day 4 and still pending (intro 600)
EXPECTED: dict[str, tuple[Any, ...]] = {
    #          enr met br late few pend excl touch auto man unw  rate  p50   p90   strikes risk
    "ana@acme.test": (4, 4, 0, 0, 0, 0, 0, 8, 5, 3, 0, 1.0, 900, 5400, 0, 0.0),
    "ben@acme.test": (4, 0, 4, 2, 2, 0, 0, 4, 3, 1, 1, 0.0, 600, 18000, 1, 500.0),
    "cy@acme.test": (4, 1, 1, 1, 0, 1, 1, 3, 2, 1, 1, 0.5, 600, 3600, 0, 500.0),
    "total": (12, 5, 5, 3, 2, 1, 1, 15, 10, 5, 2, 0.5, 600, 5400, 1, 1000.0),
}
BEN_STRUCK_LEADS = [  # newest breach first; ties by enrollment, newest first
    ("b4@example.com", "inbound", "too_few_touches"),
    ("b1@example.com", "inbound", "too_few_touches"),
    ("b3@example.com", "callback", "first_touch_late"),
    ("b2@example.com", "callback", "first_touch_late"),
]


@pytest.fixture
def played(make_harness: Harnesses, database_url: str | None) -> Harness:
    """The story played out on SQLite, and on PostgreSQL in the integration tier."""
    h = make_harness(sequences=FILES, templates=TEMPLATES, database_url=database_url)
    play_three_owners(h)
    return h


def _report(h: Harness, by: str = "owner") -> dict[str, Any]:
    with transaction(h.rt.engine) as session:
        report = build_report(session, by=by, team=h.rt.catalog.team, now=h.clock.now())
    return json.loads(report_json(report))


def _as_expected(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[name] for name in ROW_FIELDS)


def test_json_report_by_owner_equals_the_hand_counts(played: Harness) -> None:
    """Given the three-owner story, when reported by owner, then every field is as worked out."""
    report = _report(played)
    rows = {row["key"]: _as_expected(row) for row in report["rows"]}
    assert rows == {k: v for k, v in EXPECTED.items() if k != "total"}
    assert _as_expected(report["total"]) == EXPECTED["total"]
    assert report["revenue_at_risk"] == 1000.0


def test_owners_with_strikes_come_first_with_the_leads_behind_them(played: Harness) -> None:
    """Given Ben's four breaches in one week at three per strike, then he alone has one strike."""
    report = _report(played)
    assert [row["key"] for row in report["rows"]] == [
        "ben@acme.test",
        "ana@acme.test",
        "cy@acme.test",
    ]
    [ben] = report["strike_list"]
    assert (ben["owner"], ben["strikes"], ben["breaches"]) == ("ben@acme.test", 1, 4)
    assert ben["periods"] == {"2026-11-30": 1}
    assert [(lead["email"], lead["sequence"], lead["reason"]) for lead in ben["leads"]] == (
        BEN_STRUCK_LEADS
    )


def test_every_touch_carries_its_enrollments_sequence(played: Harness) -> None:
    """The sent counts read the touch's own copy of the sequence (no join): emails and tasks
    planned by the flow and touches logged by hand all carry their enrollment's."""
    with transaction(played.rt.engine) as session:
        rows = session.execute(
            select(col(Touch.kind), col(Touch.sequence), col(Enrollment.sequence)).join(
                Enrollment, col(Enrollment.id) == Touch.enrollment_id
            )
        ).all()
    assert {kind for kind, _, _ in rows} == {"email", "task", "logged"}
    assert [(kind, ours) for kind, ours, theirs in rows if ours != theirs] == []


def test_report_by_sequence_splits_the_same_enrollments(played: Harness) -> None:
    """Given the same story, when reported by sequence, then the sequences add up to the total."""
    report = _report(played, by="sequence")
    rows = {row["key"]: row for row in report["rows"]}
    # inbound: a1 a3 met, b1 b4 too few, c1 excluded, c3 pending; firsts all 600
    # callback: a2 a4 c2 met, b2 b3 c4 late; firsts [1200, 3600, 5400, 18000]
    assert _as_expected(rows["inbound"])[:13] == (6, 2, 2, 0, 2, 1, 1, 8, 7, 1, 0, 0.5, 600)
    assert _as_expected(rows["callback"])[:14] == (
        6,
        3,
        3,
        3,
        0,
        0,
        0,
        7,
        3,
        4,
        2,
        0.5,
        4500,
        18000,
    )
    assert _as_expected(report["total"])[:14] == EXPECTED["total"][:14]


def test_marketing_side_compares_delivered_with_the_plan(played: Harness) -> None:
    """Given 600 leads a month needed, when 12 come in 4 days 16 hours, then marketing is behind."""
    marketing = _report(played)["marketing"]
    days = 4 + 16 / 24  # from midnight of the first enrollment's day to now
    assert marketing["leads_delivered"] == 12
    assert marketing["days"] == round(days, 3)
    assert marketing["leads_needed"] == round(600 / (365.25 / 12) * days, 1)
    assert marketing["status"] == "behind"


def test_csv_export_parses_back_to_the_same_numbers(played: Harness) -> None:
    """Given the owner report, when exported as CSV and parsed, then each number is unchanged."""
    with transaction(played.rt.engine) as session:
        report = build_report(
            session, by="owner", team=played.rt.catalog.team, now=played.clock.now()
        )
    rows = list(csv.DictReader(io.StringIO(report_csv(report))))
    parsed = {row["key"]: tuple(_number(row[name]) for name in ROW_FIELDS) for row in rows}
    assert parsed == EXPECTED


def _number(text: str) -> Any:
    if text == "":
        return None
    return float(text) if "." in text else int(text)


def test_cli_prints_the_same_json(
    played: Harness, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given the scenario's database, when `compliance report --format json` runs, it agrees."""
    assert cli.on(played)("compliance", "report", "--format", "json") == 0
    report = json.loads(capsys.readouterr().out)
    assert {row["key"]: _as_expected(row) for row in report["rows"]} == {
        k: v for k, v in EXPECTED.items() if k != "total"
    }


def test_dashboard_page_shows_the_same_figures(played: Harness) -> None:
    """Given the story, when the dashboard is rendered, then owners and the strikes are on it."""
    with transaction(played.rt.engine) as session:
        page = dashboard_html(
            session,
            team=played.rt.catalog.team,
            since=None,
            until=None,
            now=played.clock.now(),
            sequences=played.rt.catalog.sequences.values(),
        )
    assert all(name in page for name in ("Ana Diligent", "Ben Busy", "Cy Mixed"))
    strikes = page.split('id="strikes"')[1].split("</section>")[0]
    assert [email for email, _, _ in BEN_STRUCK_LEADS] == [
        line.split("<td>")[1].split("</td>")[0]
        for line in strikes.splitlines()
        if "@example.com" in line
    ]
    assert "<b>12</b> delivered of" in page and "behind" in page
