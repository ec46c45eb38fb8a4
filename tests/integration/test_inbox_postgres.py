"""The inbox on PostgreSQL: the corpus recorded and the reply facts aggregated, as on SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlmodel import Session

from tests.support.inbox import CORPUS, drop, inbox_harness, mail_leads
from worker.compliance.report import build_report
from worker.engine.status import collect_status
from worker.inbox.maildir_source import MaildirSource
from worker.inbox.watcher import poll

pytestmark = pytest.mark.integration


def test_the_corpus_on_postgresql_gets_the_same_outcomes(tmp_path: Path, postgres_url: str) -> None:
    """Every corpus file's outcome and lead, then status and report figures, on PostgreSQL."""
    expected = yaml.safe_load((CORPUS / "expected.yaml").read_text())
    h = inbox_harness(tmp_path, database_url=postgres_url)
    try:
        mail_leads(h, sorted({c["lead"] for c in expected.values() if c.get("lead")}))
        for name in expected:
            drop(h, name, (CORPUS / name).read_bytes())
        seen = {s.uid: s.decision for s in poll(h.rt, MaildirSource(h.settings.inbox_dir))}
        got = {name: (str(d.outcome), d.lead_email) for name, d in seen.items()}
        assert got == {name: (case["outcome"], case.get("lead")) for name, case in expected.items()}
        [box] = collect_status(h.rt).mailboxes
        assert box.outcomes["reply"] == 6 and box.outcomes["bounce"] == 4
        with Session(h.rt.engine) as session:
            facts = build_report(session, by="sequence").replies
        assert facts is not None
        [sequence] = facts.by_sequence
        assert (sequence.replies, sequence.bounces, sequence.complaints) == (5, 4, 1)
    finally:
        h.close()
