"""SQLite's WAL is copied back into the database by the scheduler between ticks, not in a claim's
commit (issue 15: a third of a 500-row claim was its commit's checkpoint). In WAL mode only a
checkpoint writes the database file, so its bytes tell whether one ran."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from models.touch import Touch, TouchKind, TouchStatus
from testkit.harness import Harness, Harnesses, template
from worker.engine import scheduler_loop
from worker.engine.db import checkpoint, transaction
from worker.engine.scheduler_loop import claim_and_enqueue, run_scheduler
from worker.engine.tunables import QUEUED_LEASE

SEQUENCE = """
name: s
trigger: lead.mql
steps:
  - id: one
    email: t/one
    wait: 2d
"""
DUE = 5000  # with a 1,000-character detail each: some 1,300 pages claimed, above SQLite's 1,000


def database_file(h: Harness) -> Path:
    return Path(str(h.rt.engine.url.database))


def fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def harness_with_due(make_harness: Harnesses) -> tuple[Harness, list[int]]:
    """A harness (SQLite file) with DUE wide email touches due an hour ago, the WAL copied back."""
    h = make_harness(
        sequences={"s.yaml": SEQUENCE}, templates={"t/one.j2": template("One")}, max_in_flight=DUE
    )
    sent: list[int] = []
    h.rt.enqueue_touch, h.rt.enqueue_touches = sent.append, sent.extend
    h.event("lead.mql", "ana@example.com")
    [touch] = h.touches()
    row = {"enrollment_id": touch.enrollment_id, "lead_id": touch.lead_id, "step": "one"}
    due = {"kind": TouchKind.EMAIL, "status": TouchStatus.SCHEDULED, "detail": "x" * 1000}
    with transaction(h.rt.engine) as session:
        session.execute(
            insert(Touch), [row | due | {"due_at": h.clock.now() - timedelta(hours=1)}] * DUE
        )
    checkpoint(h.rt.engine)
    sent.clear()
    return h, sent


def test_a_claim_commits_without_a_checkpoint_and_the_scheduler_runs_one_after_its_tick(
    make_harness: Harnesses, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given 5,000 due touches (more pages than SQLite's default checkpoint size), when they are
    claimed, then the database file is as it was (the pages wait in the WAL); when the
    scheduler loop then runs a pass, then the file holds them."""
    h, sent = harness_with_due(make_harness)
    path = database_file(h)
    before = fingerprint(path)
    enqueued, _ = claim_and_enqueue(h.rt, now=h.clock.now(), lease_for=QUEUED_LEASE)
    assert (enqueued, len(sent)) == (DUE, DUE)
    assert fingerprint(path) == before
    stop = threading.Event()
    monkeypatch.setattr(scheduler_loop, "claim_between_ticks", lambda *_, **__: stop.set())
    run_scheduler(h.rt, stop)
    assert fingerprint(path) != before
