"""Claims on PostgreSQL: concurrent schedulers never take the same touch (SKIP LOCKED)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, insert, text
from sqlmodel import Session, col

from models.lead import Lead
from models.touch import Touch, TouchKind, TouchStatus
from worker.engine.db import make_engine, transaction
from worker.engine.schema import prepare_schema
from worker.flow.scheduling import claim_due

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    built = make_engine(postgres_url, pool_size=8)
    prepare_schema(built)
    yield built
    built.dispose()


def add_due_touches(engine: Engine, count: int) -> set[int]:
    """`count` email touches due one minute ago, for one lead; returns their ids."""
    with transaction(engine) as session:
        lead = Lead(email="ana@example.com", created_at=NOW, updated_at=NOW)
        session.add(lead)
        session.flush()
        rows = [
            {
                "lead_id": lead.id,
                "step": f"s{i}",
                "kind": TouchKind.EMAIL,
                "status": TouchStatus.SCHEDULED,
                "due_at": NOW - timedelta(minutes=1),
            }
            for i in range(count)
        ]
        ids = session.execute(insert(Touch).returning(col(Touch.id)), rows).scalars().all()
    return set(ids)


def claim_until_empty(engine: Engine, start: threading.Barrier, claimed: list[int]) -> None:
    """One scheduler: claim small batches, each in its own transaction, until nothing is due."""
    start.wait()
    while True:
        with transaction(engine) as session:
            ids = claim_due(session, now=NOW, limit=25).ids
        if not ids:
            return
        claimed.extend(ids)


def test_concurrent_claims_never_take_the_same_touch(engine: Engine) -> None:
    """Given 2000 due touches, when 6 threads claim at once, then each touch is claimed once."""
    due = add_due_touches(engine, 2000)
    start = threading.Barrier(6)
    claimed: list[list[int]] = [[] for _ in range(6)]
    threads = [
        threading.Thread(target=claim_until_empty, args=(engine, start, mine)) for mine in claimed
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    everything = [touch_id for mine in claimed for touch_id in mine]
    assert len(everything) == len(set(everything)) == 2000
    assert set(everything) == due
    assert sum(1 for mine in claimed if mine) >= 2  # the claims really ran side by side


def test_a_claim_skips_rows_another_open_claim_holds(engine: Engine) -> None:
    """Given a claim not yet committed, when another claims, it takes other rows without waiting."""
    due = add_due_touches(engine, 100)
    with Session(engine) as first, first.begin():
        held = claim_due(first, now=NOW, limit=40).ids
        with transaction(engine) as second:
            second.execute(text("SET LOCAL lock_timeout = '2s'"))  # blocking would raise
            other = claim_due(second, now=NOW, limit=100).ids
    assert len(held) == 40 and len(other) == 60
    assert set(held) | set(other) == due and not set(held) & set(other)
