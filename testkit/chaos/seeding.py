"""Fast seeding: thousands of leads enrolled in one go through the project's own code (upsert,
enroll_many: one flush per chunk), their first touches held back until the test releases them
all at once (the herd a scheduler sees after a quiet night)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from models.enrollment import Enrollment
from models.event import LeadIn
from models.touch import Touch, TouchKind, TouchStatus
from worker.engine.db import changed_rows, transaction
from worker.engine.runtime import Runtime
from worker.flow.enrollment import enroll_many
from worker.flow.leads import upsert_lead

CHUNK = 500
HELD_BACK = timedelta(days=3650)  # "not yet": far beyond any run


def seed_leads(
    rt: Runtime, leads: Sequence[dict[str, Any]], *, trigger: str = "lead.mql", hold: bool = True
) -> int:
    """Store and enroll `leads` in every sequence `trigger` starts; with `hold`, their first
    touches wait (due in ten years) until release_due(). Returns the enrollments made."""
    now, made = rt.clock.now(), 0
    specs = rt.catalog.triggered_by(trigger)
    for start in range(0, len(leads), CHUNK):
        with transaction(rt.engine) as session:
            stored = [
                upsert_lead(session, LeadIn.model_validate(lead), now=now)[0]
                for lead in leads[start : start + CHUNK]
            ]
            session.flush()
            pairs = [(lead, None) for lead in stored]
            for spec in specs:
                team = rt.catalog.team
                results = enroll_many(
                    session, pairs, spec, versions=rt.versions, team=team, at=now, now=now
                )
                made += sum(isinstance(result, Enrollment) for result in results)
            if hold:
                session.flush()
                _move_scheduled(session, now + HELD_BACK)
    return made


def release_due(rt: Runtime, at: datetime | None = None) -> int:
    """Every scheduled email touch becomes due at `at` (default: now), in one statement."""
    with transaction(rt.engine) as session:
        return _move_scheduled(session, at or rt.clock.now())


def _move_scheduled(session: Any, due: datetime) -> int:
    return changed_rows(
        session,
        update(Touch)
        .where(col(Touch.status) == TouchStatus.SCHEDULED, col(Touch.kind) == TouchKind.EMAIL)
        .values(due_at=due),
    )


def numbered_leads(prefix: str, count: int, **fields: Any) -> list[dict[str, Any]]:
    """`count` leads prefix0000@example.com ... with a first name and the given fields."""
    return [
        {"email": f"{prefix}{i:05d}@example.com", "first_name": f"L{i:05d}", **fields}
        for i in range(count)
    ]


def release_by_zone(rt: Runtime, due_by_zone: dict[str, datetime]) -> int:
    """Each scheduled email touch of a lead in one of the zones becomes due at that zone's
    instant (e.g. 09:00 local), one statement per zone."""
    from models.lead import Lead

    moved = 0
    with transaction(rt.engine) as session:
        for zone, due in due_by_zone.items():
            leads = select(Lead.id).where(col(Lead.timezone) == zone)
            moved += changed_rows(
                session,
                update(Touch)
                .where(col(Touch.status) == TouchStatus.SCHEDULED, col(Touch.lead_id).in_(leads))
                .values(due_at=due),
            )
    return moved
