"""The CLI on an injected context: its settings, and a virtual clock instead of the real one."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.harness import template, write_files
from worker.cli.app import run_cli
from worker.cli.context import CliContext
from worker.compliance.dashboard_link import token_expiry
from worker.engine.clock import VirtualClock
from worker.engine.settings import Settings

SECRET = "cli-context-secret"
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


def cli_context(folder: Path, now: datetime) -> CliContext:
    write_files(folder / "sequences", {"paced.yaml": SEQUENCE})
    write_files(
        folder / "templates", {"t/hello.j2": template("Hello"), "t/later.j2": template("Later")}
    )
    settings = Settings(
        database_url=f"sqlite:///{folder / 'followup.db'}",
        sequences_dir=folder / "sequences",
        templates_dir=folder / "templates",
        outbox_dir=folder / "outbox",
        secret_key=SECRET,
        base_url="https://followup.test",
    )
    return CliContext(settings=settings, clock=VirtualClock(now))


def test_compliance_link_expires_days_after_the_contexts_clock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`compliance link --days 3` signs an expiry three days after the virtual now."""
    now = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert run_cli(["compliance", "link", "--days", "3"], cli_context(tmp_path, now)) == 0
    link = capsys.readouterr().out.strip()
    assert link.startswith("https://followup.test/compliance?token=")
    [token] = parse_qs(urlsplit(link).query)["token"]
    assert token_expiry(token, secret=SECRET) == now + timedelta(days=3)


def test_sequences_preview_starts_at_the_contexts_clock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --start the timeline begins at the virtual now, then waits two business days;
    the threaded step shows the subject it will have, "Re: <first subject>"."""
    now = datetime(2031, 5, 9, 8, 30, tzinfo=UTC)  # a Friday, 10:30 in Madrid
    assert run_cli(["sequences", "preview", "paced"], cli_context(tmp_path, now)) == 0
    out = capsys.readouterr().out
    assert "Fri 2031-05-09 10:30 CEST" in out and "2031-05-09 08:30" in out
    assert "Tue 2031-05-13 10:30 CEST" in out and "2031-05-13 08:30" in out
    assert "Re: Hello" in out and "Later" not in out


def test_status_answers_while_another_process_holds_the_write_lock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given a schema at head and a writer holding SQLite's write lock, `followup status` only
    reads: it answers at once instead of waiting for the lock."""
    context = cli_context(tmp_path, datetime(2031, 5, 6, tzinfo=UTC))
    assert run_cli(["status"], context) == 0  # creates the schema
    capsys.readouterr()
    writer = sqlite3.connect(tmp_path / "followup.db", isolation_level=None)
    answered: list[int] = []
    try:
        writer.execute("BEGIN IMMEDIATE")
        reader = threading.Thread(target=lambda: answered.append(run_cli(["status"], context)))
        reader.start()
        reader.join(timeout=10)
        assert answered == [0], "status waited for the write lock"
    finally:
        writer.rollback()
        writer.close()
        reader.join()
    assert "database: ok" in capsys.readouterr().out
