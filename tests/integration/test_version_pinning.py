"""Pinning a new sequence version on PostgreSQL (issue 9, defect 5): two processes that pin the
same new version at once both succeed, and it is stored once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import select

from models.enrollment import SequenceVersion
from testkit.harness import ONE_EMAIL_SEQUENCE, template, write_files
from tests.support.postgres_locks import until_one_waits_on_a_lock
from worker.engine.db import make_engine, transaction
from worker.engine.schema import prepare_schema
from worker.specs.catalog import load_catalog
from worker.specs.rendering import Renderer
from worker.specs.sequences import SequenceSpec
from worker.specs.versions import VersionStore

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SEQUENCE = ONE_EMAIL_SEQUENCE  # `s`: one email step, `one` (template t/one)


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    built = make_engine(postgres_url, pool_size=4)
    prepare_schema(built)
    yield built
    built.dispose()


def new_spec(folder: Path) -> SequenceSpec:
    write_files(folder / "sequences", {"s.yaml": SEQUENCE})
    write_files(folder / "templates", {"t/one.j2": template("One")})
    return load_catalog(folder / "sequences", Renderer(folder / "templates")).sequence("s")


def test_two_processes_pinning_the_same_new_version_both_succeed(
    engine: Engine, tmp_path: Path
) -> None:
    """Given two runtimes (their own VersionStore each) enrolling into a version nobody pinned,
    when the second checks before the first commits and inserts while it is still open, then
    both transactions commit and the version is stored once."""
    spec = new_spec(tmp_path)
    first_pinned, errors = threading.Event(), []

    def second() -> None:
        first_pinned.wait()
        try:
            with transaction(engine) as session:
                VersionStore().pin(session, spec, now=NOW)  # waits on the first's insert
        except Exception as exc:  # the race this test is about
            errors.append(exc)

    racer = threading.Thread(target=second)
    racer.start()
    with transaction(engine) as session:
        VersionStore().pin(session, spec, now=NOW)
        first_pinned.set()
        until_one_waits_on_a_lock(engine, racer, "the second")  # on our uncommitted row
    racer.join(timeout=20)
    assert errors == []
    with transaction(engine) as session:
        stored = session.exec(select(func.count()).select_from(SequenceVersion)).one()
    assert stored == 1
