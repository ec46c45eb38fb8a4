"""One poison event blocks nothing (issue 9, defect 3): stale events are applied one savepoint
each; one that always raises is counted, then dead with its error, and `followup status` shows
it (fakes, virtual clock; the CLI in-process)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models.event import Event, EventIn
from testkit.harness import ONE_EMAIL_SEQUENCE, Harness, Harnesses, template
from tests.support.cli import Cli
from worker.engine.db import transaction
from worker.engine.tunables import STALE_EVENT_AFTER, STALE_EVENT_MAX_FAILURES

SEQUENCE = ONE_EMAIL_SEQUENCE  # `s`: one email step, `one` (template t/one)


def lost_event(h: Harness, payload: dict[str, object], email: str) -> None:
    """An event the API stored but whose message never reached a worker."""
    with transaction(h.rt.engine) as session:
        at = h.clock.now() - STALE_EVENT_AFTER - timedelta(seconds=1)
        event = Event(
            type="lead.mql", lead_email=email, payload=payload, occurred_at=at, received_at=at
        )
        session.add(event)


def good(email: str) -> dict[str, object]:
    return EventIn.model_validate({"type": "lead.mql", "lead": {"email": email}}).model_dump(
        mode="json"
    )


def test_a_poison_event_is_counted_then_dead_and_the_others_are_applied(
    make_harness: Harnesses, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given a lost event whose payload cannot be read between two good ones, when the
    scheduler ticks, then the good ones enroll at once, the poison one fails each tick and is
    dead after STALE_EVENT_MAX_FAILURES, and status counts and names it."""
    h = make_harness(sequences={"s.yaml": SEQUENCE}, templates={"t/one.j2": template("One")})
    lost_event(h, good("first@example.com"), "first@example.com")
    lost_event(h, {"type": "lead.mql", "lead": {"email": 42}}, "poison@example.com")
    lost_event(h, good("last@example.com"), "last@example.com")
    h.tick()
    assert len(h.enrollments()) == 2
    for _ in range(STALE_EVENT_MAX_FAILURES - 1):
        h.tick()
    assert sorted(m.to for m in h.sent) == ["first@example.com", "last@example.com"]
    with transaction(h.rt.engine) as session:
        poison = session.get(Event, 2)
        assert poison is not None
        assert (poison.failures, poison.processed_at) == (STALE_EVENT_MAX_FAILURES, None)
        assert poison.dead_at == h.clock.now()
        assert (poison.last_error or "").startswith("invalid event: lead.email: ")  # names it
    assert h.tick().events == 0  # dead: no longer tried
    assert cli.on(h)("status") == 0
    out = capsys.readouterr().out
    assert "dead events: 1" in out
    assert "event 2 lead.mql poison@example.com: invalid event: lead.email: " in out
