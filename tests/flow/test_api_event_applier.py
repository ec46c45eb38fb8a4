"""`followup api` alone (no worker in the process): POST /events stores the event and answers,
and the app's event applier carries stored events out in batches (fakes, virtual clock)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session, select

from models.event import Event, EventIn
from models.lead import Lead
from testkit.harness import ONE_EMAIL_SEQUENCE, Harness, Harnesses, template
from worker.api import loop_writes
from worker.api.app import create_app
from worker.auth.apikeys import create_key
from worker.engine.db import transaction
from worker.engine.event_applier import EventApplier
from worker.engine.tunables import STALE_EVENT_AFTER
from worker.flow.events import record_event

SEQUENCE = ONE_EMAIL_SEQUENCE  # `s`: one email, triggered by lead.mql


@pytest.fixture
def h(make_harness: Harnesses) -> Harness:
    return make_harness(sequences={"s.yaml": SEQUENCE}, templates={"t/one.j2": template("One")})


def api_alone(h: Harness) -> tuple[TestClient, dict[str, str]]:
    """The app as `followup api` serves it without Redis, and a key's headers."""
    with transaction(h.rt.engine) as session:
        key = create_key(session, "tests", now=h.clock.now())
    client = TestClient(create_app(h.rt, process_inline=True), raise_server_exceptions=False)
    return client, {"Authorization": f"Bearer {key}"}


def event(email: str, **extra: object) -> dict[str, object]:
    return {"type": "lead.mql", "lead": {"email": email}, **extra}


def events(h: Harness) -> list[Event]:
    with Session(h.rt.engine) as session:
        return list(session.exec(select(Event).order_by(Event.id)))  # type: ignore[arg-type]  # a column


def test_the_event_is_stored_at_once_and_the_applier_enrolls_the_lead(h: Harness) -> None:
    """Given the API alone, when an event is posted, then 202 says stored and not yet processed;
    once the applier has it the lead is enrolled, and a retry says duplicate, processed."""
    client, auth = api_alone(h)
    with client:
        first = client.post("/events", json=event("ana@example.com", id="crm-1"), headers=auth)
        assert first.status_code == 202
        assert (first.json()["status"], first.json()["processed"]) == ("accepted", False)
        assert client.app.state.event_applier.wait_idle(timeout=30)  # type: ignore[attr-defined]  # a FastAPI app
        again = client.post("/events", json=event("ana@example.com", id="crm-1"), headers=auth)
    assert (again.json()["status"], again.json()["processed"]) == ("duplicate", True)
    assert again.json()["id"] == first.json()["id"]
    assert [(e.sequence, e.status) for e in h.enrollments()] == [("s", "active")]


def test_stopping_the_api_applies_every_event_it_stored(h: Harness) -> None:
    """Given events posted just before the API stops, when it stops, then each is applied
    (new leads with their fields, each enrolled once) before the applier ends."""
    client, auth = api_alone(h)
    with client:
        for n in range(12):
            lead = {"email": f"lead{n}@example.com", "first_name": f"N{n}", "fields": {"n": n}}
            body = {"type": "lead.mql", "lead": lead}
            assert client.post("/events", json=body, headers=auth).status_code == 202
    assert all(e.processed_at is not None for e in events(h))
    assert len(h.enrollments()) == 12
    with Session(h.rt.engine) as session:
        stored = session.exec(select(Lead).where(Lead.email == "lead7@example.com")).one()
    assert (stored.first_name, stored.fields) == ("N7", {"n": 7})


def test_a_failing_event_in_a_batch_holds_back_none_of_the_others(h: Harness) -> None:
    """Given a batch with one stored event that cannot be read, when applied, then the others
    are applied one by one and the bad one has its failure counted, left for the scheduler."""
    now = h.clock.now()
    ids = []
    with transaction(h.rt.engine) as session:
        for email in ("a@example.com", "poison@example.com", "b@example.com"):
            row, _ = record_event(session, EventIn.model_validate(event(email)), now=now)
            ids.append(row.id)
        poison = session.get(Event, ids[1])
        assert poison is not None
        poison.payload = {"type": "lead.mql", "lead": {"email": 42}}
    applier = EventApplier(h.rt)
    applier.start()
    for event_id in ids:
        applier.submit(event_id)  # type: ignore[arg-type]  # stored: has an id
    applier.stop()
    stored = events(h)
    assert [e.processed_at is not None for e in stored] == [True, False, True]
    assert (stored[1].failures, stored[1].dead_at) == (1, None)
    assert len(h.enrollments()) == 2


def test_an_event_stored_while_no_applier_runs_is_applied_by_the_scheduler(h: Harness) -> None:
    """Given the app not served (no lifespan, so no applier: as if the process died after the
    insert), when an event is posted, then it is stored, and the scheduler applies it once it is
    stale."""
    client, auth = api_alone(h)
    h.rt.enqueue_event = lambda _event_id: None  # as in `followup api` alone: no broker's workers
    response = client.post("/events", json=event("lost@example.com"), headers=auth)
    assert response.status_code == 202 and response.json()["processed"] is False
    h.tick()
    assert h.enrollments() == []
    h.advance(STALE_EVENT_AFTER + timedelta(seconds=1))
    assert [e.sequence for e in h.enrollments()] == ["s"]


def handed_to_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of what loop_writes hands to the threadpool from now on."""
    handed: list[str] = []
    original = loop_writes.run_in_threadpool

    async def spy(func: Any, *args: Any) -> Any:
        handed.append(getattr(func, "__name__", repr(func)))
        return await original(func, *args)

    monkeypatch.setattr(loop_writes, "run_in_threadpool", spy)
    return handed


def test_an_event_posted_while_the_writer_lock_is_free_is_stored_on_the_loop(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given no other write, when an event is posted, then its insert runs at once, without
    a hand-off to the threadpool."""
    client, auth = api_alone(h)
    handed = handed_to_threads(monkeypatch)
    with client:
        posted = client.post("/events", json=event("ana@example.com", id="crm-8"), headers=auth)
    assert posted.status_code == 202 and handed == []
    assert [e.key for e in events(h)] == ["crm-8"]


def test_an_event_posted_while_another_write_holds_the_lock_waits_its_turn(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given another thread's write transaction holding SQLite's writer lock, when an event is
    posted, then the insert does not wait on the loop: it waits in the threadpool, and is
    stored once, answered 202, after the other commits."""
    client, auth = api_alone(h)
    handed = handed_to_threads(monkeypatch)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with transaction(h.rt.engine) as session:
            session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the writer lock is held
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(30)
    with client:
        threading.Timer(0.3, release.set).start()
        posted = client.post("/events", json=event("ana@example.com", id="crm-9"), headers=auth)
    holder.join(30)
    assert posted.status_code == 202 and posted.json()["status"] == "accepted"
    assert len(handed) == 1
    assert [e.key for e in events(h)] == ["crm-9"]
