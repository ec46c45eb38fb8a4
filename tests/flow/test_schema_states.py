"""Databases a release can meet: half-finished set-ups and migrations are refused with one line
and left alone; readiness says when the schema is behind; `db check` names a model change."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect

from testkit.harness import Harness, template
from tests.support.migrations import revisions_on_top
from worker.api.app import create_app
from worker.auth.apikeys import create_key
from worker.cli.app import run_cli
from worker.engine.db import make_engine, transaction
from worker.engine.schema import FIRST_REVISION, read_revision, upgrade
from worker.engine.schema_check import migrations_against_models

SEQUENCE = """
name: mql
trigger: lead.mql
steps:
  - id: intro
    email: t/intro
"""


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    database = f"sqlite:///{tmp_path / 'followup.db'}"
    monkeypatch.setenv("FOLLOWUP_DATABASE_URL", database)
    return database


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    [line] = capsys.readouterr().err.strip().splitlines()
    return line


def test_an_interrupted_batch_migration_is_refused_and_left_as_it_is(
    url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a database behind head with `_alembic_tmp_touch` left by a migration that
    stopped halfway, `db upgrade` exits 2 naming it, and the database is not touched."""
    engine = make_engine(url)
    with engine.begin() as connection:
        upgrade(connection, None)
        connection.exec_driver_sql("CREATE TABLE _alembic_tmp_touch (id INTEGER)")
    nickname = 'op.add_column("lead", sa.Column("nickname", sa.String(50), nullable=True))'
    with revisions_on_top(tmp_path, monkeypatch, {"i12_next": nickname}):
        assert run_cli(["db", "upgrade"]) == 2
        assert read_revision(engine) != "i12_next"
    line = _one_error_line(capsys)
    assert "a migration stopped halfway: _alembic_tmp_touch was left behind" in line
    assert "nickname" not in {c["name"] for c in inspect(engine).get_columns("lead")}
    engine.dispose()


def test_some_first_wave_tables_without_a_revision_are_refused(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given lead and touch tables but not the rest, and no revision, every command refuses
    (exit 2, one line naming what is missing) instead of building on top."""
    engine = make_engine(url)
    with engine.begin() as connection:
        upgrade(connection, None, target=FIRST_REVISION)
        for table in ("api_key", "compliance_entry", "mailbox_day"):
            connection.exec_driver_sql(f"DROP TABLE {table}")
        connection.exec_driver_sql("DROP TABLE alembic_version")
    assert run_cli(["db", "upgrade"]) == 2
    line = _one_error_line(capsys)
    assert "not api_key, compliance_entry, mailbox_day, and no schema revision" in line
    assert "alembic_version" not in inspect(engine).get_table_names()
    engine.dispose()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    built = Harness(
        tmp_path / "h", sequences={"mql.yaml": SEQUENCE}, templates={"t/intro.j2": template("Hi")}
    )
    try:
        yield built
    finally:
        built.close()


def test_readiness_fails_when_another_release_moved_the_schema_on(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a running API, when the code expects a newer revision than the database has,
    then /readyz is 503: `unavailable` for anyone, the reason for a key holder."""
    with transaction(harness.rt.engine) as session:
        key = create_key(session, "ops", now=harness.clock.now())
    client = TestClient(create_app(harness.rt, process_inline=True))
    assert client.get("/readyz").json() == {"status": "ok"}
    with revisions_on_top(tmp_path, monkeypatch, {"i12_next": "pass"}):
        public = client.get("/readyz")
        private = client.get("/readyz", headers={"Authorization": f"Bearer {key}"})
    assert (public.status_code, public.json()) == (503, {"status": "unavailable"})
    checks = private.json()["checks"]
    assert "needs i12_next: run `followup db upgrade`" in checks["database"]
    assert checks["sequences"] == "1 loaded" and checks["broker"] == "ok, embedded"


def test_readiness_says_unavailable_when_the_database_is_gone(harness: Harness) -> None:
    """The database unreachable: 503 without detail (the reason would name its host)."""
    from tests.support.services import free_port

    client = TestClient(create_app(harness.rt, process_inline=True))
    harness.rt.engine = make_engine(f"postgresql+psycopg://x@127.0.0.1:{free_port()}/x")
    response = client.get("/readyz")
    assert (response.status_code, response.json()) == (503, {"status": "unavailable"})
    assert client.get("/healthz").json() == {"status": "ok"}


def test_db_check_names_a_model_change_that_has_no_migration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given a revision the models do not have (a column), `db check` exits 1 naming it."""
    assert migrations_against_models() == []
    extra = 'op.add_column("lead", sa.Column("nickname", sa.String(50), nullable=True))'
    with revisions_on_top(tmp_path, monkeypatch, {"i12_next": extra}):
        assert migrations_against_models() == ["remove_column lead.nickname"]
        assert run_cli(["db", "check"]) == 1
    err = capsys.readouterr().err
    assert "migrations vs models: remove_column lead.nickname" in err
    assert 'make migration m="what changed"' in err
