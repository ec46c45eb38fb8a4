"""Batch enrollment (imports) means exactly what one event at a time means."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from models.enrollment import SequenceVersion
from models.event import EventIn, LeadIn
from models.lead import Lead
from testkit.harness import Harness, Harnesses, template
from worker.engine.db import transaction
from worker.flow.enrollment import Refusal, enroll_many
from worker.flow.event_batches import apply_events
from worker.flow.events import record_event

MQL = """
name: mql
trigger: lead.mql
exit_on: [lead.recycled]
exclusive: true
steps:
  - id: one
    email: t/one
"""
RECYCLE = """
name: recycle
trigger: lead.recycled
exclusive: true
steps:
  - id: one
    email: t/one
"""


@pytest.fixture
def h(make_harness: Harnesses) -> Harness:
    return make_harness(
        sequences={"mql.yaml": MQL, "recycle.yaml": RECYCLE},
        templates={"t/one.j2": template("One")},
    )


def leads(h: Harness, *emails: str) -> list[Lead]:
    with transaction(h.rt.engine) as session:
        found = {lead.email: lead for lead in session.exec(select(Lead))}
    return [found[email] for email in emails]


def test_enroll_many_applies_every_rule_per_lead(h: Harness) -> None:
    """Suppressed, enrolled, listed-twice and exclusive leads are refused; the rest enroll."""
    for email in ("new@example.com", "gone@example.com", "in@example.com", "busy@example.com"):
        h.event("lead.created", email)
    h.event("lead.unsubscribed", "gone@example.com")
    h.event("lead.mql", "in@example.com")
    h.event("lead.recycled", "busy@example.com")
    new, gone, inside, busy = leads(
        h, "new@example.com", "gone@example.com", "in@example.com", "busy@example.com"
    )
    spec = h.rt.catalog.sequences["mql"]
    pairs = [(new, None), (gone, None), (inside, None), (busy, None), (new, None)]
    with transaction(h.rt.engine) as session:
        results = enroll_many(
            session,
            pairs,
            spec,
            versions=h.rt.versions,
            team=h.rt.catalog.team,
            at=h.clock.now(),
            now=h.clock.now(),
        )
    assert not isinstance(results[0], Refusal)
    assert "suppressed" in str(results[1])
    assert "already enrolled" in str(results[2])
    assert "exclusive sequence 'recycle'" in str(results[3])
    assert "already enrolled" in str(results[4])
    assert sorted((e.sequence, e.lead_id) for e in h.enrollments()) == sorted(
        [("mql", inside.id), ("recycle", busy.id), ("mql", new.id)]
    )


def test_apply_events_matches_one_at_a_time(h: Harness) -> None:
    """A batch of triggers, an exit, a suppression and a repeated lead ends as if sequential."""
    h.event("lead.mql", "running@example.com")
    h.event("lead.created", "plain@example.com")
    h.event("lead.created", "twice@example.com")
    batch = [
        EventIn(type="lead.mql", lead=LeadIn(email="plain@example.com")),
        EventIn(type="lead.recycled", lead=LeadIn(email="running@example.com")),
        EventIn(type="lead.unsubscribed", lead=LeadIn(email="plain2@example.com")),
        EventIn(type="lead.mql", lead=LeadIn(email="twice@example.com")),
        EventIn(type="lead.recycled", lead=LeadIn(email="twice@example.com")),
        EventIn(type="lead.mql", lead=LeadIn(email="fresh@example.com", first_name="F")),
    ]
    now = h.clock.now()
    with transaction(h.rt.engine) as session:
        rows = [record_event(session, event, now=now)[0] for event in batch]
        outcomes = apply_events(
            session, rows, catalog=h.rt.catalog, versions=h.rt.versions, now=now
        )
    assert [o.enrolled for o in outcomes] == [
        ["mql"],
        ["recycle"],
        [],
        ["mql"],
        ["recycle"],
        ["mql"],
    ]
    assert [o.exited for o in outcomes] == [[], ["mql"], [], [], ["mql"], []]
    assert outcomes[2].suppressed
    h.advance(timedelta(minutes=1))  # the exited mql touches were cancelled unsent
    assert sorted(m.to for m in h.sent) == [
        "fresh@example.com",
        "plain@example.com",
        "running@example.com",
        "twice@example.com",
    ]


def test_a_version_pinned_by_a_rolled_back_transaction_is_stored_by_the_next(h: Harness) -> None:
    """The pin remembers only committed versions: after a rollback the next pin stores it."""
    spec, now = h.rt.catalog.sequences["mql"], h.clock.now()
    with pytest.raises(RuntimeError), transaction(h.rt.engine) as session:
        h.rt.versions.pin(session, spec, now=now)
        h.rt.versions.pin(session, spec, now=now)  # found, but this session's own insert
        raise RuntimeError("rolled back")
    with transaction(h.rt.engine) as session:
        h.rt.versions.pin(session, spec, now=now)
    with transaction(h.rt.engine) as session:
        assert session.get(SequenceVersion, spec.version) is not None
        h.rt.versions.pin(session, spec, now=now)  # found, committed: remembered
    h.event("lead.mql", "after@example.com")
    assert [e.version for e in h.enrollments()] == [spec.version]


def test_new_leads_enrolled_together_keep_their_own_moments_and_fields(h: Harness) -> None:
    """Given events for leads not stored yet, which occurred apart, when applied as one batch,
    then each lead is created with its fields and enrolled at its own event's moment."""
    now = h.clock.now()
    batch = [
        EventIn(
            type="lead.mql",
            lead=LeadIn(email=f"new{n}@example.com", company=f"C{n}", fields={"n": n}),
            occurred_at=now - timedelta(minutes=n),
        )
        for n in range(3)
    ]
    with transaction(h.rt.engine) as session:
        rows = [record_event(session, event, now=now)[0] for event in batch]
        outcomes = apply_events(
            session, rows, catalog=h.rt.catalog, versions=h.rt.versions, now=now
        )
    assert [o.enrolled for o in outcomes] == [["mql"]] * 3
    [stored] = leads(h, "new2@example.com")
    assert (stored.company, stored.fields) == ("C2", {"n": 2})
    by_lead = sorted(h.enrollments(), key=lambda e: e.lead_id)  # the leads in the batch's order
    assert [e.enrolled_at for e in by_lead] == [now - timedelta(minutes=n) for n in range(3)]
