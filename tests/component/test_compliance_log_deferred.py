"""A batch's compliance entries held back (log.deferred, issue 15): inserted together, in the
order they were appended whichever way, and not at all when the batch breaks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from models.compliance import ComplianceKind
from worker.compliance import log
from worker.compliance.log import LogFilter, query_log
from worker.engine.db import make_engine, reading, transaction
from worker.engine.schema import prepare_schema

T0 = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


def logged_engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'log.db'}")
    prepare_schema(engine)
    return engine


def details(engine: Engine) -> list[str | None]:
    with reading(engine) as session:
        return [entry.detail for entry in query_log(session, LogFilter())]


def test_deferred_entries_are_inserted_in_the_order_they_were_appended(tmp_path: Path) -> None:
    """Given entries appended one way and the other inside log.deferred, when the block ends,
    then the log holds them all, in that order."""
    engine = logged_engine(tmp_path)
    with transaction(engine) as session, log.deferred(session):
        for n in range(3):
            values = log.entry_values(
                ComplianceKind.TOUCH_SENT, at=T0, lead_email="a@example.com", detail=f"sent {n}"
            )
            log.append_all(session, [(values, {})])
            log.append(
                session,
                ComplianceKind.SLA_MET,
                at=T0,
                lead_email="a@example.com",
                detail=f"met {n}",
            )
    assert details(engine) == ["sent 0", "met 0", "sent 1", "met 1", "sent 2", "met 2"]


def test_a_deferred_block_that_raises_inserts_nothing(tmp_path: Path) -> None:
    """Given an entry appended inside log.deferred, when the block raises and its transaction
    still commits, then nothing is in the log."""
    engine = logged_engine(tmp_path)
    with transaction(engine) as session, pytest.raises(RuntimeError), log.deferred(session):
        log.append(session, ComplianceKind.SLA_MET, at=T0, lead_email="a@example.com")
        raise RuntimeError("the batch broke")
    assert details(engine) == []
