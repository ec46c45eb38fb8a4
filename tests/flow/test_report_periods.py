"""The report by day, week and month against counts made by hand from the same rows: periods
read as ranges of the enrolment-time index, percentiles at their rank, empty periods absent."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert
from sqlmodel import Session

from models.enrollment import Enrollment, SequenceVersion
from models.lead import Lead
from worker.compliance import report
from worker.compliance.grouping import period_of
from worker.compliance.percentiles import ranks
from worker.compliance.report import build_report

START = datetime(2026, 1, 26, 22, 30, tzinfo=UTC)  # a Monday night: weeks cross month ends


def _enrollments(count: int, seed: int) -> list[dict[str, Any]]:
    """Enrollments over ten weeks with a gap of two empty weeks; some never touched."""
    rng = random.Random(seed)
    rows = []
    for n in range(1, count + 1):
        day = rng.choice([d for d in range(70) if not 21 <= d < 35])
        enrolled = START + timedelta(days=day, seconds=rng.randrange(86400))
        status = rng.choice(["met", "breached", "pending", "excluded"])
        first = rng.choice([None, rng.randrange(0, 50), rng.randrange(0, 200_000)])
        rows.append(
            {
                "id": n,
                "lead_id": n,
                "sequence": "s",
                "version": "v",
                "owner": rng.choice(["a@x.test", "b@x.test", None]),
                "enrolled_at": enrolled,
                "touches_completed": 0 if first is None else rng.randrange(1, 5),
                "first_touch_seconds": first,
                "sla_status": status,
                "sla_reason": "first_touch_late" if status == "breached" else None,
            }
        )
    return rows


def _insert(engine: Engine, rows: list[dict[str, Any]]) -> None:
    with Session(engine) as session:
        session.execute(
            insert(SequenceVersion),
            [{"hash": "v", "name": "s", "definition": {}, "templates": {}, "created_at": START}],
        )
        session.execute(
            insert(Lead),
            [
                {
                    "id": r["id"],
                    "email": f"l{r['id']}@x.test",
                    "fields": {},
                    "created_at": START,
                    "updated_at": START,
                }
                for r in rows
            ],
        )
        session.execute(insert(Enrollment), rows)
        session.commit()


def _by_hand(rows: list[dict[str, Any]], by: str) -> dict[str, tuple[Any, ...]]:
    """Per period: enrolled, breached, median and 90th percentile of first-touch seconds."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[period_of(by, row["enrolled_at"])].append(row)
    return {key: _figures(members) for key, members in groups.items()}


def _figures(members: list[dict[str, Any]]) -> tuple[Any, ...]:
    seconds = sorted(
        r["first_touch_seconds"] for r in members if r["first_touch_seconds"] is not None
    )
    median = p90 = None
    if seconds:
        low, high, ninetieth = ranks(len(seconds))
        median, p90 = round((seconds[low] + seconds[high]) / 2), seconds[ninetieth]
    breached = sum(r["sla_status"] == "breached" for r in members)
    return len(members), breached, median, p90


@pytest.mark.parametrize("by", ["day", "week", "month"])
def test_periods_count_and_rank_what_enrolled_in_them(engine: Engine, by: str) -> None:
    """Given 400 enrollments over ten weeks with two empty, then each period's counts and
    first-touch percentiles are the hand-made ones and no empty period has a row."""
    rows = _enrollments(400, seed=7)
    _insert(engine, rows)
    with Session(engine) as session:
        report = build_report(session, by=by)
    found = {
        row.key: (
            row.enrolled,
            row.breached,
            row.median_first_touch_seconds,
            row.p90_first_touch_seconds,
        )
        for row in report.rows
    }
    assert found == _by_hand(rows, by)
    assert report.total.enrolled == len(rows)


def test_a_window_cuts_periods_at_since_and_until(engine: Engine) -> None:
    """Given a window that starts and ends inside weeks, then only enrollments inside it count,
    in the weeks they fall in."""
    rows = _enrollments(300, seed=11)
    _insert(engine, rows)
    since, until = START + timedelta(days=3, hours=5), START + timedelta(days=50, minutes=7)
    with Session(engine) as session:
        report = build_report(session, by="week", since=since, until=until)
    inside = [r for r in rows if since <= r["enrolled_at"] < until]
    found = {
        r.key: (r.enrolled, r.breached, r.median_first_touch_seconds, r.p90_first_touch_seconds)
        for r in report.rows
    }
    assert found == _by_hand(inside, "week")


def test_many_periods_split_over_statements_give_the_same_rows(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given more days than one statement's arms, then the rows are those of one statement."""
    rows = _enrollments(200, seed=3)
    _insert(engine, rows)
    with Session(engine) as session:
        whole = build_report(session, by="day").as_dict()
        monkeypatch.setattr(report, "REPORT_PERIODS_PER_STATEMENT", 4)
        split = build_report(session, by="day").as_dict()
    assert split == whole
    assert len(split["rows"]) == len(_by_hand(rows, "day"))
