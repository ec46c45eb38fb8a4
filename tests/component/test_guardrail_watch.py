"""The scheduler loop's guardrail watch on SQLite: it recounts when a bounce or complaint is
noted, else once GUARDRAIL_RECOUNT has passed, and not on every tick in between."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session

from models.lead import Lead
from models.touch import Touch, TouchKind, TouchStatus
from worker.engine.db import make_engine
from worker.engine.schema import prepare_schema
from worker.engine.tunables import GUARDRAIL_RECOUNT
from worker.flow.guardrails import GuardrailWatch

NOW = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


def test_the_watch_recounts_on_a_new_answer_or_after_a_while(tmp_path: Path) -> None:
    """First call: due; the same state a second later: not due; a bounce noted: due; nothing
    new but GUARDRAIL_RECOUNT later: due."""
    engine = make_engine(f"sqlite:///{tmp_path / 'f.db'}")
    prepare_schema(engine)
    watch = GuardrailWatch()
    with Session(engine) as session:
        lead = Lead(email="a@example.com", created_at=NOW, updated_at=NOW)
        session.add(lead)
        session.flush()
        touch = Touch(
            lead_id=lead.id or 0,
            step="s",
            kind=TouchKind.EMAIL,
            status=TouchStatus.SENT,
            due_at=NOW,
        )
        session.add(touch)
        session.commit()
        assert watch.due(session, now=NOW)
        assert not watch.due(session, now=NOW + timedelta(seconds=1))
        touch.bounced_at = NOW
        session.add(touch)
        session.commit()
        assert watch.due(session, now=NOW + timedelta(seconds=2))
        assert not watch.due(session, now=NOW + timedelta(seconds=3))
        assert watch.due(session, now=NOW + timedelta(seconds=2) + GUARDRAIL_RECOUNT)
    engine.dispose()
