"""Upgrades on SQLite and PostgreSQL: a first-revision database keeps every row, a failing
revision changes nothing, and processes refuse a database that is behind or ahead."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect
from sqlmodel import Session, col, select

from models.enrollment import Enrollment, SlaStatus
from models.lead import Lead
from models.touch import Touch, TouchStatus
from testkit.harness import TEST_SECRET, Harness
from tests.support.first_revision import OWNER, TEMPLATES, database_at_first_revision, missing_rows
from tests.support.migrations import revisions_on_top
from worker.cli.app import run_cli
from worker.engine.db import make_engine
from worker.engine.schema import FIRST_REVISION, head_revision, read_revision

ONBOARDING = """
name: onboarding
trigger: lead.mql
exit_on: [email.replied]
sla: {first_touch_within: 4h, min_touches: 2, within: 7d}
steps:
  - {id: hello, email: hello, wait: 0s}
  - {id: again, email: again, wait: 1d}
"""


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'followup.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    built = make_engine(database_url)
    yield built
    built.dispose()


def _cli(monkeypatch: pytest.MonkeyPatch, url: str, *args: str) -> int:
    monkeypatch.setenv("FOLLOWUP_DATABASE_URL", url)
    monkeypatch.setenv("FOLLOWUP_SECRET_KEY", TEST_SECRET)
    return run_cli(list(args))


@pytest.mark.parametrize("stamped", [True, False], ids=["stamped", "first-wave-unstamped"])
def test_upgrading_a_first_revision_database_keeps_every_row_and_it_keeps_working(
    tmp_path: Path,
    database_url: str,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    stamped: bool,
) -> None:
    """Given leads, events, an enrollment half way, touches and log lines written at 0001, when
    `followup db upgrade` runs, then every row is there unchanged, and the scheduled second email
    still goes out and completes the SLA."""
    written = database_at_first_revision(engine, stamped=stamped)

    assert _cli(monkeypatch, database_url, "db", "upgrade") == 0

    assert read_revision(engine) == head_revision()
    assert missing_rows(engine, written) == []
    harness = Harness(
        tmp_path / "after",
        sequences={"onboarding.yaml": ONBOARDING},
        templates=TEMPLATES,
        database_url=database_url,
    )
    try:
        harness.advance(timedelta(hours=1))
        assert [(m.to, m.subject) for m in harness.sent] == [("ana@example.com", "Again")]
        with Session(harness.rt.engine) as session:
            enrollment = session.exec(select(Enrollment)).one()
            assert (enrollment.touches_completed, enrollment.sla_status) == (2, SlaStatus.MET)
            bob = session.exec(select(Lead).where(Lead.email == "bob@example.com")).one()
            assert bob.suppressed_reason == "lead.unsubscribed" and bob.owner == OWNER
            again = session.exec(select(Touch).where(col(Touch.step) == "again")).one()
            assert again.status == TouchStatus.SENT
    finally:
        harness.close()


def test_a_revision_that_fails_halfway_changes_nothing(
    tmp_path: Path,
    database_url: str,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Given a database at head with data and a next revision that creates a table, adds a
    column and then fails, when `followup db upgrade` runs, then it exits 2 with one line and
    the database is exactly as before: same revision, no new table or column, same rows."""
    written = database_at_first_revision(engine)
    assert _cli(monkeypatch, database_url, "db", "upgrade") == 0
    capsys.readouterr()
    broken = """
        op.create_table("half_done", sa.Column("id", sa.Integer(), primary_key=True))
        op.add_column("lead", sa.Column("nickname", sa.String(50), nullable=True))
        op.execute("UPDATE lead SET no_such_column = 1")
    """
    before = head_revision()
    with revisions_on_top(tmp_path, monkeypatch, {"i12_broken": broken}):
        assert _cli(monkeypatch, database_url, "db", "upgrade") == 2
        assert read_revision(engine) == before
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "i12_broken" in err and f"nothing was changed, it is still at {before}" in err
    inspector = inspect(engine)
    assert "half_done" not in inspector.get_table_names()
    assert "nickname" not in {c["name"] for c in inspector.get_columns("lead")}
    assert missing_rows(engine, written) == []


def test_processes_refuse_a_database_that_is_behind_and_db_upgrade_brings_it_to_head(
    tmp_path: Path,
    database_url: str,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Given a database at the code's previous head, when run, api, scheduler or worker start,
    then each exits 2 with one line naming `followup db upgrade`, and nothing changed; after
    the upgrade they get past the check."""
    database_at_first_revision(engine)
    assert _cli(monkeypatch, database_url, "db", "upgrade") == 0
    monkeypatch.setenv("FOLLOWUP_SEQUENCES_DIR", str(_sequences(tmp_path)))
    monkeypatch.setenv("FOLLOWUP_TEMPLATES_DIR", str(tmp_path / "templates"))
    monkeypatch.setenv("FOLLOWUP_REDIS_URL", "redis://127.0.0.1:9/0")  # worker: checked later
    nickname = 'op.add_column("lead", sa.Column("nickname", sa.String(50), nullable=True))'
    with revisions_on_top(tmp_path, monkeypatch, {"i12_next": nickname}):
        capsys.readouterr()
        for command in (["run", "--no-api"], ["api"], ["scheduler"], ["worker"], ["status"]):
            assert _cli(monkeypatch, database_url, *command) == 2, command
            err = capsys.readouterr().err.strip()
            assert len(err.splitlines()) == 1, (command, err)
            assert "needs i12_next: run `followup db upgrade`" in err, (command, err)
        assert read_revision(engine) != "i12_next"
        assert _cli(monkeypatch, database_url, "db", "upgrade") == 0
        assert "upgraded from" in capsys.readouterr().out
        assert read_revision(engine) == "i12_next"
        assert "nickname" in {c["name"] for c in inspect(engine).get_columns("lead")}
    engine.dispose()


def test_a_database_stamped_by_a_newer_followup_is_refused_by_every_command(
    tmp_path: Path,
    database_url: str,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Given a database upgraded by a newer release (a revision this code does not know), when
    `db upgrade`, `run` or `status` start, then each exits 2 with one line and the stamp stays."""
    database_at_first_revision(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = 'zz_future'")
    monkeypatch.setenv("FOLLOWUP_SEQUENCES_DIR", str(_sequences(tmp_path)))
    monkeypatch.setenv("FOLLOWUP_TEMPLATES_DIR", str(tmp_path / "templates"))
    capsys.readouterr()
    for command in (["db", "upgrade"], ["run", "--no-api"], ["status"]):
        assert _cli(monkeypatch, database_url, *command) == 2, command
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, (command, err)
        assert "zz_future, which this followup does not know" in err
    assert read_revision(engine) == "zz_future"
    assert FIRST_REVISION != "zz_future"


def _sequences(folder: Path) -> Path:
    (folder / "sequences").mkdir(exist_ok=True)
    (folder / "sequences" / "onboarding.yaml").write_text(ONBOARDING, encoding="utf-8")
    (folder / "templates").mkdir(exist_ok=True)
    for name, text in TEMPLATES.items():
        (folder / "templates" / name).write_text(text, encoding="utf-8")
    return folder / "sequences"
