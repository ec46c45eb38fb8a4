"""Compliance end to end: verdicts recorded on time, the log in order, the report's counts, CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from statistics import median

import pytest
from sqlmodel import Session

from testkit.harness import MONDAY_9AM_NY as T0
from testkit.harness import Harness, Harnesses, template
from worker.compliance.export import log_csv
from worker.compliance.log import LogFilter, query_log
from worker.compliance.report import build_report
from worker.engine.db import transaction
from worker.mail import PermanentSendError

ALPHA = """
name: alpha
trigger: lead.mql
exit_on: [email.replied]
sla:
  first_touch_within: 1h
steps:
  - id: one
    email: t/one
  - id: two
    email: t/two
    wait: 1d
"""
BETA = """
name: beta
trigger: form.submitted
sla:
  first_touch_within: 30m
steps:
  - id: late
    email: t/late
    wait: 2h
"""
SLOW = """
name: slow
trigger: demo.requested
exit_on: [email.replied]
sla:
  first_touch_within: 1h
steps:
  - id: one
    email: t/one
    wait: 2h
  - id: two
    email: t/company
    wait: 1h
  - id: three
    email: t/two
    wait: 1h
"""
TEMPLATES = {
    "t/one.j2": template("One"),
    "t/two.j2": template("Two"),
    "t/late.j2": template("Late"),
    "t/company.j2": template("For {{ lead.company }}"),
}


@pytest.fixture
def h(make_harness: Harnesses) -> Harness:
    return make_harness(
        sequences={"alpha.yaml": ALPHA, "beta.yaml": BETA, "slow.yaml": SLOW},
        templates=TEMPLATES,
    )


@pytest.fixture
def played(make_harness: Harnesses, database_url: str | None) -> Harness:
    """The report scenario played out on SQLite, and on PostgreSQL in the integration tier."""
    h = make_harness(
        sequences={"alpha.yaml": ALPHA, "beta.yaml": BETA, "slow.yaml": SLOW},
        templates=TEMPLATES,
        database_url=database_url,
    )
    play_report_scenario(h)
    return h


def log_entries(h: Harness, kind: str | None = None) -> list[tuple[str, str | None, timedelta]]:
    with Session(h.rt.engine) as session:
        found = query_log(session, LogFilter(kind=kind))
    return [(str(e.kind), e.step, e.at - T0) for e in found]


def test_an_sla_breach_is_recorded_by_the_scheduler_when_the_deadline_passes(h: Harness) -> None:
    """Given a 1h first-touch SLA and a first email planned at 2h, the breach is recorded one
    second after the deadline, by the scheduler, before anyone reads a report."""
    h.event("demo.requested", "ana@example.com")
    h.advance_to(T0 + timedelta(hours=1))
    [enrollment] = h.enrollments()
    assert enrollment.sla_status == "pending"
    h.advance_to(T0 + timedelta(hours=1, seconds=1))
    [enrollment] = h.enrollments()
    assert (enrollment.sla_status, enrollment.sla_reason) == ("breached", "first_touch_late")
    assert enrollment.sla_decided_at == T0 + timedelta(hours=1)
    assert log_entries(h, kind="sla.breached") == [("sla.breached", None, timedelta(hours=1))]
    h.advance_to(T0 + timedelta(hours=3))
    [enrollment] = h.enrollments()
    assert (enrollment.sla_status, enrollment.touches_completed) == ("breached", 1)
    assert len(log_entries(h, kind="sla.breached")) == 1


def test_a_logged_manual_touch_counts_toward_the_sla(h: Harness) -> None:
    """Given the first email at 2h, a call logged at 30 minutes meets the 1h first-touch SLA
    and is counted with the later emails."""
    h.event("demo.requested", "ana@example.com", lead={"owner": "rep@acme.test"})
    h.advance_to(T0 + timedelta(minutes=30))
    h.event("touch.logged", "ana@example.com", detail="called, left a voicemail")
    [enrollment] = h.enrollments()
    assert (enrollment.sla_status, enrollment.sla_reason) == ("met", "touches")
    assert (enrollment.touches_completed, enrollment.first_touch_seconds) == (1, 1800)
    h.advance_to(T0 + timedelta(hours=3))
    [enrollment] = h.enrollments()
    assert enrollment.touches_completed == 2
    assert [(t.step, t.kind, t.status) for t in h.touches(status="done")] == [
        ("manual", "logged", "done")
    ]
    [logged] = [e for e in log_entries(h) if e[0] == "touch.logged"]
    assert logged[2] == timedelta(minutes=30)


def test_the_compliance_log_has_the_entries_in_order(h: Harness) -> None:
    """Given a run with a logged call, a send, a render failure and a reply, the log lists
    exactly those facts, oldest first, with lead, owner, sequence and step."""
    h.event("demo.requested", "ana@example.com", lead={"owner": "rep@acme.test"})
    h.advance_to(T0 + timedelta(minutes=20))
    h.event("touch.logged", "ana@example.com", detail="call")
    h.advance_to(T0 + timedelta(hours=3, minutes=30))
    h.event("email.replied", "ana@example.com")
    h.advance_to(T0 + timedelta(hours=6))
    assert log_entries(h) == [
        ("enrollment.started", None, timedelta(0)),
        ("touch.logged", "manual", timedelta(minutes=20)),
        ("sla.met", None, timedelta(minutes=20)),
        ("touch.sent", "one", timedelta(hours=2)),
        ("touch.failed", "two", timedelta(hours=3)),  # this lead has no company
        ("enrollment.exited", None, timedelta(hours=3, minutes=30)),
    ]
    with Session(h.rt.engine) as session:
        found = query_log(session, LogFilter(email="ana@example.com"))
    assert {(e.lead_email, e.owner, e.sequence) for e in found} == {
        ("ana@example.com", "rep@acme.test", "slow")
    }
    assert found[-1].detail == "email.replied"


def play_report_scenario(h: Harness) -> None:
    """Six leads over two days; see the report test for what each one does."""
    h.mailer.fail_for("fay@example.com", PermanentSendError("552 5.2.2 mailbox full", 552))
    h.event("lead.mql", "ana@example.com", lead={"owner": "rep1@acme.test"})
    h.event("form.submitted", "ben@example.com", lead={"owner": "rep1@acme.test"})
    h.event("form.submitted", "cy@example.com", lead={"owner": "rep2@acme.test"})
    h.advance_to(T0 + timedelta(minutes=20))
    h.event("touch.logged", "cy@example.com", detail="call")
    h.advance_to(T0 + timedelta(days=1))
    h.event("lead.mql", "dee@example.com")
    h.event("lead.mql", "eve@example.com", lead={"owner": "rep2@acme.test"})
    h.event("lead.unsubscribed", "eve@example.com")
    h.event("form.submitted", "fay@example.com", lead={"owner": "rep2@acme.test"})
    h.advance_to(T0 + timedelta(days=3))


def rows(h: Harness, by: str) -> dict[str, tuple[object, ...]]:
    with transaction(h.rt.engine) as session:
        report = build_report(session, by=by)
    return {
        row.key: (
            row.enrolled,
            row.met,
            row.breached,
            row.pending,
            row.excluded,
            row.touches,
            row.unworked,
            row.compliance_rate,
            row.median_first_touch_seconds,
        )
        for row in [*report.rows, report.total]
    }


def test_report_counts_match_what_was_sent_by_owner_sequence_and_day(played: Harness) -> None:
    """Given six leads (ana met, ben late, cy met by a call, dee met without owner, eve
    unsubscribed, fay never reached), the report's counts and medians are the hand counts.

    First-touch seconds: ana 0, ben 7200, cy 1200 (the call), dee 0; eve and fay none.
    """
    h = played
    assert len(h.sent) == 7 - 1  # ana 2, ben 1, cy 1, dee 2; the 7th touch is cy's call
    m = median
    assert rows(h, "owner") == {
        "rep1@acme.test": (2, 1, 1, 0, 0, 3, 0, 0.5, m([0, 7200])),
        "rep2@acme.test": (3, 1, 1, 0, 1, 2, 1, 0.5, m([1200])),
        "(no owner)": (1, 1, 0, 0, 0, 2, 0, 1.0, m([0])),
        "total": (6, 3, 2, 0, 1, 7, 1, 0.6, m([0, 7200, 1200, 0])),
    }
    assert rows(h, "sequence") == {
        "alpha": (3, 2, 0, 0, 1, 4, 0, 1.0, m([0, 0])),
        "beta": (3, 1, 2, 0, 0, 3, 1, 0.333, m([7200, 1200])),
        "total": (6, 3, 2, 0, 1, 7, 1, 0.6, 600),
    }
    assert rows(h, "day") == {
        "2026-11-30": (3, 2, 1, 0, 0, 5, 0, 0.667, m([0, 7200, 1200])),
        "2026-12-01": (3, 1, 1, 0, 1, 2, 1, 0.5, m([0])),
        "total": (6, 3, 2, 0, 1, 7, 1, 0.6, 600),
    }


def test_report_counts_only_enrollments_inside_since_and_until(played: Harness) -> None:
    """--since/--until select enrollments by when they started."""
    with transaction(played.rt.engine) as session:
        later = build_report(session, by="owner", since=T0 + timedelta(hours=12))
        earlier = build_report(session, by="owner", until=T0 + timedelta(hours=12))
    assert (later.total.enrolled, later.total.met, later.total.unworked) == (3, 1, 1)
    assert (earlier.total.enrolled, earlier.total.met, earlier.total.breached) == (3, 2, 1)


def test_csv_export_neutralises_formulas_arriving_through_events(h: Harness) -> None:
    """A touch.logged detail typed by a rep (or an attacker) is neutralised in the export."""
    h.event("lead.mql", "ana@example.com")
    h.event("touch.logged", "ana@example.com", detail="=cmd|' /C calc'!A0")
    with Session(h.rt.engine) as session:
        parsed = list(
            csv.DictReader(io.StringIO(log_csv(query_log(session, LogFilter(kind="touch.logged")))))
        )
    assert [row["detail"] for row in parsed] == ["'=cmd|' /C calc'!A0"]
