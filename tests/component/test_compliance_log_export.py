"""The compliance log on SQLite: its filters, and exports that keep or neutralise the detail."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session

from models.compliance import ComplianceKind
from tests.support.cells import HOSTILE
from worker.compliance import log
from worker.compliance.export import log_csv, log_jsonl
from worker.compliance.log import LogFilter, query_log
from worker.engine.db import make_engine, transaction
from worker.engine.schema import prepare_schema

T0 = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    """A log with entries for two leads, two owners, two kinds, on two days."""
    engine = make_engine(f"sqlite:///{tmp_path / 'log.db'}")
    prepare_schema(engine)
    with transaction(engine) as writer:
        log.append(
            writer,
            ComplianceKind.TOUCH_LOGGED,
            at=T0,
            lead_email="ana@example.com",
            owner="rep@acme.test",
            detail=HOSTILE[0],
        )
        for n, text in enumerate(HOSTILE[1:], 1):
            log.append(
                writer,
                ComplianceKind.TOUCH_LOGGED,
                at=T0 + timedelta(minutes=n),
                lead_email="ana@example.com",
                owner="rep@acme.test",
                detail=text,
            )
        log.append(
            writer,
            ComplianceKind.SLA_BREACHED,
            at=T0 + timedelta(days=1),
            lead_email="bob@example.com",
            owner="other@acme.test",
            detail="first_touch_late",
        )
    with Session(engine) as reader:
        yield reader
    engine.dispose()


def test_log_csv_neutralises_every_hostile_detail(session: Session) -> None:
    """Given logged touches whose detail is a formula, then the CSV holds them quoted."""
    rows = list(
        csv.DictReader(io.StringIO(log_csv(query_log(session, LogFilter(email="ana@example.com")))))
    )
    assert [row["detail"] for row in rows] == ["'" + text for text in HOSTILE]


def test_jsonl_keeps_the_detail_as_written(session: Session) -> None:
    """Given the same entries as JSON lines, then text is exact (JSON is not a spreadsheet)."""
    lines = log_jsonl(query_log(session, LogFilter(kind="touch.logged"))).splitlines()
    assert [json.loads(line)["detail"] for line in lines] == HOSTILE


@pytest.mark.parametrize(
    ("where", "leads"),
    [
        (LogFilter(email=" ANA@example.com "), ["ana@example.com"] * 6),
        (LogFilter(owner="other@acme.test"), ["bob@example.com"]),
        (LogFilter(kind="sla.breached"), ["bob@example.com"]),
        (LogFilter(since=T0 + timedelta(hours=1)), ["bob@example.com"]),
        (LogFilter(until=T0 + timedelta(minutes=2)), ["ana@example.com"] * 2),
        (LogFilter(sequence="none-such"), []),
    ],
)
def test_log_filters(session: Session, where: LogFilter, leads: list[str]) -> None:
    """Given a filter on lead, owner, kind, sequence or time, then only matching entries come."""
    assert [entry.lead_email for entry in query_log(session, where)] == leads
