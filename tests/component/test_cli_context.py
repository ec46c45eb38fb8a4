"""The CLI on an injected context: its settings, and a virtual clock instead of the real one."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from testkit.harness import Harness, Harnesses, template
from tests.support.cli import Cli
from worker.compliance.dashboard_link import read_token

SECRET = "cli-context-secret-7d3f0a9c2e5b8146ab"  # 32+ bytes
SEQUENCE = """
name: paced
trigger: lead.mql
send_window:
  days: [mon, tue, wed, thu, fri]
  hours: "09:00-17:00"
  timezone: Europe/Madrid
steps:
  - id: hello
    email: t/hello
  - id: later
    email: t/later
    wait: 2 business days
    thread: true
"""


def harness_at(make_harness: Harnesses, now: datetime) -> Harness:
    templates = {"t/hello.j2": template("Hello"), "t/later.j2": template("Later")}
    return make_harness(sequences={"paced.yaml": SEQUENCE}, templates=templates, start=now)


def test_compliance_link_expires_days_after_the_contexts_clock(
    make_harness: Harnesses, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """`compliance link --days 3` signs an expiry three days after the virtual now."""
    now = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    h = harness_at(make_harness, now)
    assert cli.on(h, secret_key=SECRET)("compliance", "link", "--days", "3") == 0
    link = capsys.readouterr().out.strip()
    assert link.startswith("https://followup.test/compliance?token=")
    [token] = parse_qs(urlsplit(link).query)["token"]
    assert read_token(token, keys=(SECRET,)) == (1, now + timedelta(days=3))


def test_sequences_preview_starts_at_the_contexts_clock(
    make_harness: Harnesses, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --start the timeline begins at the virtual now, then waits two business days;
    the threaded step shows the subject it will have, "Re: <first subject>"."""
    now = datetime(2031, 5, 9, 8, 30, tzinfo=UTC)  # a Friday, 10:30 in Madrid
    assert cli.on(harness_at(make_harness, now))("sequences", "preview", "paced") == 0
    out = capsys.readouterr().out
    assert "Fri 2031-05-09 10:30 CEST" in out and "2031-05-09 08:30" in out
    assert "Tue 2031-05-13 10:30 CEST" in out and "2031-05-13 08:30" in out
    assert "Re: Hello" in out and "Later" not in out


def test_status_answers_while_another_process_holds_the_write_lock(
    make_harness: Harnesses, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given a schema at head and a writer holding SQLite's write lock, `followup status` only
    reads: it answers at once instead of waiting for the lock."""
    h = harness_at(make_harness, datetime(2031, 5, 6, tzinfo=UTC))
    followup = cli.on(h)
    assert followup("status") == 0  # the harness created the schema
    capsys.readouterr()
    writer = sqlite3.connect(
        h.settings.database_url.removeprefix("sqlite:///"), isolation_level=None
    )
    answered: list[int] = []
    try:
        writer.execute("BEGIN IMMEDIATE")
        reader = threading.Thread(target=lambda: answered.append(followup("status")))
        reader.start()
        reader.join(timeout=10)
        assert answered == [0], "status waited for the write lock"
    finally:
        writer.rollback()
        writer.close()
        reader.join()
    assert "database: ok" in capsys.readouterr().out
