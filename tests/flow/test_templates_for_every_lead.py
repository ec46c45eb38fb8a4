"""Templates that work for every lead: `owner` is always there, and a failure names its cause."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from models.compliance import ComplianceEntry, ComplianceKind
from models.event import EventIn
from testkit.harness import Harness, Harnesses
from tests.support.cli import Cli
from worker.engine.db import transaction
from worker.engine.status import collect_status
from worker.flow.events import record_event

SIGNED = """
name: signed
trigger: lead.mql
steps:
  - id: intro
    email: t/intro
  - id: bump
    email: t/bump
    wait: 1d
    thread: true
  - id: last
    email: t/last
    wait: 1d
"""
EVENTS = """
name: events
trigger: webinar.joined
from: "Acme Events <events@acme.test>"
steps:
  - id: thanks
    email: t/last
"""
GREETED = """
name: greeted
trigger: lead.greeted
steps:
  - id: hello
    email: t/greet
  - id: call
    task: "Call {{ lead.email }}"
    wait: 1d
"""
LATER = """
name: later
trigger: lead.later
steps:
  - id: call
    task: "Call {{ lead.first_name }}"
    wait: 1d
  - id: hello
    email: t/greet
    wait: 1d
"""
TEAM = """
owners:
  - email: ana.rep@acme.test
    name: Ana Rep
"""
LAYOUT = """\
{% block subject %}{% endblock %}
{% block text %}Hi {{ lead.first_name | default("there") }},
{% block body %}{% endblock %}
--
{{ owner.name }} <{{ owner.email }}>{% endblock %}
"""
TEMPLATES = {
    "layouts/base.j2": LAYOUT,
    "t/intro.j2": '{% extends "layouts/base.j2" %}{% block subject %}Intro{% endblock %}',
    "t/bump.j2": '{% extends "layouts/base.j2" %}{% block body %}Bumping this.{% endblock %}',
    "t/last.j2": '{% extends "layouts/base.j2" %}{% block subject %}Last{% endblock %}',
    "t/greet.j2": (
        '{% extends "layouts/base.j2" %}{% block subject %}Hello{% endblock %}\n'
        "{% block body %}Good to meet you,\n{{ lead.first_name }}.{% endblock %}"
    ),
}


@pytest.fixture
def h(make_harness: Harnesses) -> Harness:
    return make_harness(
        sequences={
            "signed.yaml": SIGNED,
            "events.yaml": EVENTS,
            "greeted.yaml": GREETED,
            "later.yaml": LATER,
            "team.yaml": TEAM,
        },
        templates=TEMPLATES,
    )


def signature(text: str) -> str:
    return text.strip().splitlines()[-1]


def test_a_lead_without_an_owner_gets_every_step_signed_by_the_default_sender(
    h: Harness,
) -> None:
    """Given templates that sign with owner.name and owner.email (no default), a lead without an
    owner gets all three emails, signed as FOLLOWUP_DEFAULT_FROM (`Sales <sales@acme.test>`)."""
    h.event("lead.mql", "ana@example.com")
    h.advance(timedelta(days=3))
    assert [t.status for t in h.touches()] == ["sent", "sent", "sent"]
    assert [m.subject for m in h.sent] == ["Intro", "Re: Intro", "Last"]
    assert {signature(m.text) for m in h.sent} == {"Sales <sales@acme.test>"}


def test_owner_is_the_team_owner_else_the_sender_used(h: Harness) -> None:
    """The team.yaml owner signs even under an explicit `from:`; a lead without an owner in
    that sequence is signed by the sequence's sender; an owner team.yaml does not list is not
    the From, and the default sender used instead signs."""
    h.event("webinar.joined", "ana@example.com", lead={"owner": "ana.rep@acme.test"})
    h.event("webinar.joined", "ben@example.com")
    h.event("lead.mql", "cy@example.com", lead={"owner": "cy.rep@acme.test"})
    h.advance(timedelta(minutes=5))
    signed = {(m.to, m.sender, signature(m.text)) for m in h.sent}
    assert signed == {
        ("ana@example.com", "Acme Events <events@acme.test>", "Ana Rep <ana.rep@acme.test>"),
        ("ben@example.com", "Acme Events <events@acme.test>", "Acme Events <events@acme.test>"),
        ("cy@example.com", "Sales <sales@acme.test>", "Sales <sales@acme.test>"),
    }


def test_a_render_failure_names_lead_template_line_and_field_everywhere(h: Harness) -> None:
    """Given a template that needs lead.first_name (a warning, not an error), a lead without it
    fails with one detail naming all four, in the touch, the compliance log and the status."""
    h.event("lead.greeted", "ben@example.com")
    h.event("lead.greeted", "ana@example.com", lead={"first_name": "Ana"})
    h.advance(timedelta(minutes=5))
    [failed] = h.touches(status="failed")
    assert failed.detail == (
        "render error: t/greet.j2:3: lead.first_name is undefined "
        "(lead ben@example.com, step 'hello')"
    )
    with Session(h.rt.engine) as session:
        [entry] = session.exec(
            select(ComplianceEntry).where(ComplianceEntry.kind == ComplianceKind.TOUCH_FAILED)
        ).all()
    assert (entry.lead_email, entry.step) == ("ben@example.com", "hello")
    assert entry.detail == failed.detail
    status = collect_status(h.rt)
    assert status.render_failures == 1
    [latest] = status.latest_render_failures
    assert (latest["lead"], latest["sequence"], latest["detail"]) == (
        "ben@example.com",
        "greeted",
        failed.detail,
    )
    assert [m.to for m in h.sent] == ["ana@example.com"]


@pytest.fixture
def followup(cli: Cli, h: Harness) -> Cli:
    """The command line aimed at the harness's database, folders and clock."""
    return cli.on(h)


def record_only(h: Harness, type: str, email: str) -> None:
    """An event received but not applied yet (the API's worker has not picked it up)."""
    payload = EventIn.model_validate({"type": type, "lead": {"email": email}})
    with transaction(h.rt.engine) as session:
        record_event(session, payload, now=h.clock.now())


def test_check_leads_lists_the_stored_leads_that_would_fail_before_they_are_due(
    h: Harness, followup: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given two enrolled leads (one without first_name, its steps a day away) and an event
    waiting to enroll another, `sequences check --leads` names the two failing leads and the
    step, counts what it checked, and exits 1; once the data is fixed it exits 0."""
    h.event("lead.later", "ben@example.com")
    h.event("lead.later", "ana@example.com", lead={"first_name": "Ana"})
    record_only(h, "lead.later", "cy@example.com")
    assert followup("sequences", "check", "--leads") == 1
    out, err = capsys.readouterr()
    assert "leads: later: 2 of 2 enrolled checked, 1 of 1 waiting to be enrolled checked" in out
    assert (
        "error lead ben@example.com (enrolled in later, step 'call'): "
        "lead.first_name is undefined" in err
    )
    assert (
        "error lead cy@example.com (waiting to be enrolled in later, step 'call'): "
        "lead.first_name is undefined" in err
    )
    assert "error: 2 stored lead(s) would fail to render" in err
    assert "ana@example.com" not in err and "Traceback" not in err
    assert followup("sequences", "check", "--leads", "--strict") == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "warning(s), which --strict makes errors; 2 stored lead(s) would fail" in last
    assert all(t.status == "open" or t.status == "scheduled" for t in h.touches())

    h.event("lead.updated", "ben@example.com", lead={"first_name": "Ben"})
    h.event("lead.updated", "cy@example.com", lead={"first_name": "Cy"})
    assert followup("sequences", "check", "--leads") == 0


def test_check_leads_samples_a_big_table_and_says_so(
    h: Harness, followup: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--sample N` checks at most N leads per sequence, at random, and prints how many of how
    many."""
    for n in range(3):
        h.event("lead.later", f"lead{n}@example.com", lead={"first_name": f"L{n}"})
    assert followup("sequences", "check", "--leads", "--sample", "2") == 0
    out = capsys.readouterr().out
    assert "leads: later: 2 of 3 enrolled checked (random sample)" in out


def test_check_leads_checks_only_the_steps_still_ahead(
    h: Harness, followup: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """A step that already failed at send time is on record (status, log); --leads does not
    report it again as one that would fail."""
    h.event("lead.greeted", "ben@example.com")
    h.advance(timedelta(minutes=5))
    assert [t.status for t in h.touches()] == ["failed", "open"]
    assert followup("sequences", "check", "--leads") == 0
    assert "leads: greeted: 1 of 1 enrolled checked" in capsys.readouterr().out
