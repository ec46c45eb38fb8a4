"""The append-only log alone rebuilds the report: same figures as the tables, for every grouping."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col

import models
import worker
from models.enrollment import Enrollment
from testkit.harness import MONDAY_9AM_NY as T0
from testkit.harness import Harness, Harnesses
from tests.support.cli import Cli
from tests.support.three_owners import FILES, TEMPLATES, play_three_owners
from worker.compliance.grouping import GROUPINGS
from worker.compliance.replay import audit_log, compare_reports, read_log, report_from_log
from worker.compliance.report import build_report
from worker.engine.db import transaction

NURTURE = """
name: nurture
trigger: lead.mql
steps:
  - id: digest
    email: t/intro
    wait: 1h
"""


@pytest.fixture
def played(make_harness: Harnesses) -> Harness:
    """The three-owner story, plus an SLA-free sequence every lead.mql also enrolls in."""
    h = make_harness(sequences={**FILES, "nurture.yaml": NURTURE}, templates=TEMPLATES)
    play_three_owners(h)
    h.event("touch.logged", "a1@example.com", detail="after the sequence completed")
    h.event("touch.logged", "c3@example.com", detail="counts in inbound and nurture")
    h.event("touch.logged", "nobody@example.com", detail="a lead in no sequence")
    h.event("email.bounced", "b1@example.com")
    h.advance_to(T0 + timedelta(days=5))
    return h


@pytest.mark.parametrize("by", GROUPINGS)
def test_report_from_the_log_alone_equals_the_report_from_the_tables(
    played: Harness, by: str
) -> None:
    """Given a varied history, when the log alone is replayed, then every field is the same."""
    now = played.clock.now()
    with transaction(played.rt.engine) as session:
        tables = build_report(session, by=by, team=played.rt.catalog.team, now=now)
        replayed = report_from_log(read_log(session), by=by, team=played.rt.catalog.team, now=now)
    assert tables.total.enrolled == 18 and tables.total.met > 0 and tables.total.breached > 0
    assert compare_reports(tables, replayed) == []
    sla = {k: v for k, v in tables.as_dict().items() if k != "replies"}  # inbound_message's
    assert {k: v for k, v in replayed.as_dict().items() if k != "replies"} == sla


def test_a_windowed_report_from_the_log_equals_the_tables(played: Harness) -> None:
    """Given a since/until window, when replayed from the log, then the reports agree too."""
    window: dict[str, Any] = {
        "since": T0 + timedelta(days=1),
        "until": T0 + timedelta(days=6),
        "team": played.rt.catalog.team,
        "now": played.clock.now(),
    }
    with transaction(played.rt.engine) as session:
        assert audit_log(session, groupings=GROUPINGS, **window) == []
        assert build_report(session, **window).total.enrolled == 2  # c3 in inbound and nurture


def test_audit_finds_a_table_that_no_longer_matches_the_log(played: Harness, cli: Cli) -> None:
    """Given a verdict changed behind the log's back, when audited, then it exits 1 naming it."""
    followup = cli.on(played)
    assert followup("compliance", "audit") == 0
    with transaction(played.rt.engine) as session:
        session.execute(
            update(Enrollment)
            .where(col(Enrollment.sla_status) == "breached")
            .values(sla_status="met")
        )
    assert followup("compliance", "audit") == 1


WRITES_TO_THE_LOG = [
    re.compile(r"\b(update|delete)\(\s*ComplianceEntry\b"),
    re.compile(r"\b(UPDATE|DELETE\s+FROM)\s+compliance_entry\b", re.IGNORECASE),
    re.compile(r"(?<!class )\bComplianceEntry\("),  # constructing an entry
]


def test_nothing_in_the_code_changes_or_removes_a_log_entry() -> None:
    """Given the source of followup, then log entries are only ever made by `log.append`."""
    sources = [
        *Path(worker.__file__).parent.rglob("*.py"),
        *Path(models.__file__).parent.rglob("*.py"),
    ]
    offenders = []
    for path in sources:
        text = path.read_text(encoding="utf-8")
        if "ComplianceEntry" not in text and "compliance_entry" not in text:
            continue
        for pattern in WRITES_TO_THE_LOG:
            offenders += [f"{path}: {m.group(0)}" for m in pattern.finditer(text)]
        if "ComplianceEntry" in text and re.search(r"\.delete\(", text):
            offenders.append(f"{path}: session.delete near ComplianceEntry")
    allowed = f"{Path(worker.__file__).parent / 'compliance' / 'log.py'}: ComplianceEntry("
    assert [o for o in offenders if o != allowed] == []
    assert allowed in offenders  # the one insert is where we say it is
