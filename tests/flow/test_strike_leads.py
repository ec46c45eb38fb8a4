"""Strikes and the breaches behind them against a hand count of the same rows: many owners
(and none), struck periods with gaps between them, and more breaches than a list shows."""

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
from worker.compliance.grouping import NO_OWNER, enrolled_window, period_of
from worker.compliance.strikes import owner_strikes
from worker.specs.team import StrikeRule

START = datetime(2026, 1, 26, 22, 30, tzinfo=UTC)  # a Monday night: weeks cross month ends
OWNERS = [f"rep{n}@x.test" for n in range(7)] + [None]


def _enrollments(count: int, seed: int) -> list[dict[str, Any]]:
    """Breaches and others over three weeks, decided up to 8 days on: some periods go unstruck."""
    rng = random.Random(seed)
    rows = []
    for n in range(1, count + 1):
        enrolled = START + timedelta(days=rng.randrange(21), seconds=rng.randrange(86400))
        status = rng.choice(["breached", "breached", "met", "pending"])
        decided = enrolled + timedelta(hours=rng.choice([1, 30, 200]))
        rows.append(
            {
                "id": n,
                "lead_id": n,
                "sequence": rng.choice(["s", "t"]),
                "version": "v",
                "owner": rng.choice(OWNERS),
                "enrolled_at": enrolled,
                "sla_status": status,
                "sla_reason": rng.choice(["first_touch_late", "too_few_touches"]),
                "sla_decided_at": None if status == "pending" else decided,
            }
        )
    return rows


def _insert(engine: Engine, rows: list[dict[str, Any]]) -> None:
    with Session(engine) as session:
        version = {"hash": "v", "name": "s", "definition": {}, "templates": {}}
        session.execute(insert(SequenceVersion), [{**version, "created_at": START}])
        leads = [
            {"id": r["id"], "email": f"l{r['id']}@x.test", "fields": {}, "created_at": START}
            for r in rows
        ]
        session.execute(insert(Lead), [{**lead, "updated_at": START} for lead in leads])
        session.execute(insert(Enrollment), rows)
        session.commit()


def _by_hand(rows: list[dict[str, Any]], rule: StrikeRule, shown: int) -> list[tuple[Any, ...]]:
    """Per struck owner: strikes, breaches, periods, and the newest `shown` leads behind them."""
    breaches: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if row["sla_status"] == "breached":
            owner = NO_OWNER if row["owner"] is None else row["owner"]
            breaches[owner][period_of(rule.period, row["sla_decided_at"])].append(row)
    found = []
    for owner, periods in breaches.items():
        struck = {p: m for p, m in periods.items() if len(m) >= rule.breaches_per_strike}
        if not struck:
            continue
        counts = {p: len(m) // rule.breaches_per_strike for p, m in sorted(struck.items())}
        behind = sorted(
            (r for m in struck.values() for r in m),
            key=lambda r: (r["sla_decided_at"], r["id"]),
            reverse=True,
        )[:shown]
        leads = [(f"l{r['id']}@x.test", r["sequence"], r["sla_reason"]) for r in behind]
        found.append((owner, sum(counts.values()), sum(map(len, struck.values())), counts, leads))
    return sorted(found, key=lambda o: (-o[1], o[0]))


@pytest.mark.parametrize("period", ["day", "week", "month"])
def test_strikes_and_their_leads_are_the_hand_counted_ones(engine: Engine, period: str) -> None:
    """Given 900 enrollments of seven owners and none, then each
    struck owner's strikes, breaches, periods and newest five leads are the hand-made ones."""
    rows = _enrollments(900, seed=3)
    _insert(engine, rows)
    rule = StrikeRule(breaches_per_strike=3, period=period)  # type: ignore[arg-type]
    with Session(engine) as session:
        dialect = session.get_bind().dialect.name
        struck = owner_strikes(session, rule, dialect, enrolled_window(None, None), leads_shown=5)
    found = [
        (
            o.owner,
            o.strikes,
            o.breaches,
            o.periods,
            [(x.email, x.sequence, x.reason) for x in o.leads],
        )
        for o in struck
    ]
    assert found == _by_hand(rows, rule, shown=5)
    assert any(o.breaches > 5 for o in struck) and NO_OWNER in {o.owner for o in struck}
    assert all(lead.period in o.periods for o in struck for lead in o.leads)
