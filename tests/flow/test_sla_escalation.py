"""Business-hours SLA clocks, at-risk, alerts and reassignment, on a virtual clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, col, select

from models.compliance import ComplianceEntry
from models.notification import SlaAlert
from testkit.harness import Harness, template
from worker.cli.app import run_cli
from worker.cli.context import CliContext
from worker.compliance.grouping import GROUPINGS
from worker.compliance.replay import audit_log
from worker.compliance.report import build_report
from worker.engine.db import transaction

NY = ZoneInfo("America/New_York")
FRIDAY_10PM = datetime(2026, 12, 4, 22, 0, tzinfo=NY).astimezone(UTC)
MONDAY_9AM = datetime(2026, 12, 7, 9, 0, tzinfo=NY).astimezone(UTC)
LEAD = "lee@example.com"

INBOUND = """
name: inbound
trigger: lead.mql
send_window:
  days: [mon, tue, wed, thu, fri]
  hours: "09:00-17:00"
  timezone: America/New_York
sla:
  first_touch_within: 4h
  clock: CLOCK
steps:
  - id: intro
    email: t/intro
"""

CALL_FIRST = """
name: call-first
trigger: lead.mql
send_window:
  days: [mon, tue, wed, thu, fri]
  hours: "09:00-17:00"
  timezone: America/New_York
sla:
  first_touch_within: 4h
  clock: business_hours
steps:
  - id: call
    task: Call {{ lead.email }}
    due_within: 1d
  - id: follow-up
    email: t/follow_up
"""

TEAM = """
owners:
  - email: ana@acme.test
    name: Ana Rep
    manager: maria@acme.test
  - email: ben@acme.test
    name: Ben Rep
  - email: maria@acme.test
    name: Maria Manager
alerts:
  at_risk_after: 75%
  from: "Followup <alerts@acme.test>"
  reassign_after: 2h
  pool: [ana@acme.test, ben@acme.test]
"""
TEMPLATES = {"t/intro.j2": template("Intro"), "t/follow_up.j2": template("Follow up")}


def harness(
    tmp_path: Path, sequences: dict[str, str], start: datetime, database_url: str | None = None
) -> Harness:
    return Harness(
        tmp_path, sequences=sequences, templates=TEMPLATES, start=start, database_url=database_url
    )


def at(h: Harness, moment: datetime) -> None:
    """Move the clock to `moment`; every tick on the way records what passed."""
    h.advance(moment - h.clock.now())


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=NY).astimezone(UTC)


def entries(h: Harness, *kinds: str) -> list[ComplianceEntry]:
    with Session(h.rt.engine) as session:
        return list(
            session.exec(
                select(ComplianceEntry)
                .where(col(ComplianceEntry.kind).in_(kinds))
                .order_by(col(ComplianceEntry.id))
            )
        )


def alert_emails(h: Harness) -> list[tuple[str, str]]:
    return [(m.to, m.subject) for m in h.sent if m.sender.endswith("<alerts@acme.test>")]


@pytest.mark.parametrize(
    ("clock", "breached_on_saturday"), [("business_hours", False), ("calendar", True)]
)
def test_a_lead_arriving_friday_night_is_not_breached_on_saturday(
    tmp_path: Path, clock: str, breached_on_saturday: bool
) -> None:
    """Given a 4h SLA and 09:00-17:00 weekdays, when a lead arrives Friday 22:00, then on the
    business-hours clock Saturday passes pending (due Monday 13:00) and the 09:00 email meets it;
    on the calendar clock (the control) it was breached at 02:00 Saturday."""
    h = harness(tmp_path, {"inbound.yaml": INBOUND.replace("CLOCK", clock)}, FRIDAY_10PM)
    try:
        h.event("lead.mql", LEAD, lead={"owner": "ana@acme.test"})
        at(h, ny(5, 23))
        [enrollment] = h.enrollments()
        assert (enrollment.sla_status == "breached") is breached_on_saturday
        if not breached_on_saturday:
            assert enrollment.sla_first_due_at == ny(7, 13)
            at(h, ny(7, 9, 30))
            [enrollment] = h.enrollments()
            assert enrollment.sla_status == "met" and enrollment.first_touch_at == MONDAY_9AM
    finally:
        h.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def escalating(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """A lead whose first step is a call nobody makes, arriving Monday 09:00 for Ana."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    h = harness(tmp_path, {"call.yaml": CALL_FIRST, "team.yaml": TEAM}, MONDAY_9AM, url)
    h.event("lead.mql", LEAD, lead={"owner": "ana@acme.test"})
    try:
        yield h
    finally:
        h.close()


def test_at_risk_then_breached_then_reassigned(escalating: Harness) -> None:
    """Given 4 working hours, then at 12:00 (75%) Ana hears it is at risk, at 13:00 the breach
    goes to her manager, and at 15:00 (2h later) the lead is Ben's, who is told so."""
    h = escalating
    at(h, ny(7, 11, 59))
    assert entries(h, "sla.at_risk") == [] and alert_emails(h) == []
    at(
        h,
        ny(
            7,
            12,
            0,
        ),
    )
    [risk] = entries(h, "sla.at_risk")
    assert (risk.at, risk.owner, risk.detail) == (
        ny(7, 12),
        "ana@acme.test",
        "first_touch: first touch due 2026-12-07T18:00:00Z, 1h 00m left",
    )
    assert alert_emails(h) == [("ana@acme.test", f"SLA at risk: {LEAD} (call-first)")]
    at(h, ny(7, 13, 1))
    [breach] = entries(h, "sla.breached")
    assert breach.at == ny(7, 13)
    assert alert_emails(h)[1:] == [("maria@acme.test", f"SLA breached: {LEAD} (call-first)")]
    at(h, ny(7, 14, 59))
    assert h.enrollments()[0].reassigned_to is None
    at(h, ny(7, 15))
    [moved] = entries(h, "lead.reassigned")
    assert (moved.at, moved.owner, moved.detail) == (
        ny(7, 15),
        "ben@acme.test",
        "from ana@acme.test after a missed SLA",
    )
    assert alert_emails(h)[2:] == [
        ("ben@acme.test", f"Lead reassigned to you: {LEAD} (call-first)")
    ]
    [enrollment] = h.enrollments()
    assert (enrollment.owner, enrollment.current_owner) == ("ana@acme.test", "ben@acme.test")


def test_a_reassigned_leads_next_email_comes_from_the_new_owner(escalating: Harness) -> None:
    """When the call's day runs out after the move, the follow-up email is sent as Ben, and the
    report credits that touch to Ben while the breach stays Ana's."""
    h = escalating
    at(h, ny(8, 10))
    [email] = [m for m in h.sent if m.to == LEAD]
    assert email.sender == "Ben Rep <ben@acme.test>"
    assert "ben@acme.test" in [e.owner for e in entries(h, "touch.sent")]
    with transaction(h.rt.engine) as session:
        rows = {r.key: r for r in build_report(session, by="owner").rows}
    ana, ben = rows["ana@acme.test"], rows["ben@acme.test"]
    assert (ana.enrolled, ana.breached, ana.touches, ana.reassigned) == (1, 1, 0, 1)
    assert (ben.enrolled, ben.breached, ben.touches, ben.reassigned_in) == (0, 0, 1, 1)


def test_each_alert_goes_out_once_across_a_scheduler_restart(tmp_path: Path) -> None:
    """Given the at-risk moment passed and its alert went out, when the scheduler restarts (a
    new runtime on the same database) beside a second one, and both tick at the same moments,
    then nothing is raised or sent again; the breach later is alerted once, by one of them."""
    files = {"call.yaml": CALL_FIRST, "team.yaml": TEAM}
    first = harness(tmp_path, files, MONDAY_9AM)
    first.event("lead.mql", LEAD, lead={"owner": "ana@acme.test"})
    at(first, ny(7, 12, 30))
    assert len(alert_emails(first)) == 1
    first.close()
    restarted = harness(tmp_path, files, ny(7, 12, 30))
    twin = harness(tmp_path, files, ny(7, 12, 30))
    try:
        for moment in (ny(7, 12, 30), ny(7, 13, 1), ny(7, 13, 30)):
            for scheduler in (restarted, twin):
                scheduler.clock.move_to(moment)
                scheduler.tick()
        sent_again = alert_emails(restarted) + alert_emails(twin)
        assert [to for to, _ in sent_again] == ["maria@acme.test"]
        with Session(restarted.rt.engine) as session:
            rows = session.exec(select(SlaAlert.level, SlaAlert.status)).all()
        assert sorted(rows) == [("at_risk.first_touch", "sent"), ("breached", "sent")]
        assert len(entries(restarted, "sla.at_risk", "sla.breached", "alert.sent")) == 4
    finally:
        restarted.close()
        twin.close()


def test_the_log_alone_rebuilds_at_risk_and_reassignment_figures(escalating: Harness) -> None:
    """Given one lead moved to Ben and a second lead at risk now, the report rebuilt from the
    append-only log equals the report from the tables, for every grouping."""
    h = escalating
    at(h, ny(8, 10))
    h.event("lead.mql", "second@example.com", lead={"owner": "ben@acme.test"})
    at(h, ny(8, 13, 30))
    with transaction(h.rt.engine) as session:
        report = build_report(session, by="owner", now=h.clock.now())
        differences = audit_log(session, groupings=GROUPINGS, now=h.clock.now())
    assert {r.key: r.at_risk for r in report.rows} == {"ana@acme.test": 0, "ben@acme.test": 1}
    assert differences == []


def test_the_cli_lists_at_risk_leads_and_status_counts_them(
    escalating: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    """`followup sla at-risk --owner` lists the lead with its time left; `followup status`
    counts it under its rep, with the alert sent."""
    h = escalating
    at(h, ny(7, 12, 15))
    cli = CliContext(settings=h.settings, clock=h.clock)
    assert run_cli(["sla", "at-risk", "--owner", "ana@acme.test", "--format", "json"], cli) == 0
    [item] = json.loads(capsys.readouterr().out)
    assert (item["lead"], item["deadline"], item["clock"]) == (
        LEAD,
        "first_touch",
        "business_hours",
    )
    assert item["working_left_seconds"] == 45 * 60
    assert run_cli(["sla", "at-risk", "--owner", "ben@acme.test", "--format", "json"], cli) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert run_cli(["status"], cli) == 0
    out = capsys.readouterr().out
    assert "at risk: 1 (ana@acme.test 1)" in out and "alerts: sent 1" in out


def test_preview_prints_the_business_hours_deadline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sequences preview --start` Friday 22:00: the first touch is due Monday 13:00 EST."""
    h = harness(tmp_path, {"inbound.yaml": INBOUND.replace("CLOCK", "business_hours")}, FRIDAY_10PM)
    h.close()
    cli = CliContext(settings=h.settings, clock=h.clock)
    assert run_cli(["sequences", "preview", "inbound", "--start", "2026-12-05T03:00:00Z"], cli) == 0
    out = capsys.readouterr().out
    assert "SLA first touch by Mon 2026-12-07 13:00 EST" in out
    assert "business hours clock" in out and "met by this plan" in out


def test_digest_mode_sends_one_message_per_person_per_hour(tmp_path: Path) -> None:
    """Given digest: true and three of Ana's leads at risk within one hour, then Ana gets one
    email at the end of that hour listing all three, and nothing before it."""
    team = TEAM.replace('  from: "Followup', '  digest: true\n  from: "Followup')
    h = harness(tmp_path, {"call.yaml": CALL_FIRST, "team.yaml": team}, MONDAY_9AM)
    try:
        for minute, lead in ((0, "a@example.com"), (20, "b@example.com"), (40, "c@example.com")):
            h.clock.move_to(ny(7, 9, minute))
            h.event("lead.mql", lead, lead={"owner": "ana@acme.test"})
        at(h, ny(7, 12, 50))
        h.event("task.completed", "c@example.com", step="call")
        at(h, ny(7, 12, 59))
        assert alert_emails(h) == []  # at risk from 12:00, 12:20 and 12:40: held for the hour
        at(h, ny(7, 13))
        [(to, subject)] = alert_emails(h)
        assert (to, subject) == ("ana@acme.test", "2 SLA alerts for Ana Rep")
        [digest] = [m for m in h.sent if m.to == "ana@acme.test"]
        assert "a@example.com" in digest.text and "b@example.com" in digest.text
        assert "c@example.com" not in digest.text  # called at 12:50: no longer at risk
    finally:
        h.close()
