"""The fault suite's private PostgreSQL: started on a free port, crashed, started again, kept."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from testkit.chaos.postgres_instance import PostgresInstance, PostgresUnavailable
from tests.support.services import missing

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def instance() -> Iterator[PostgresInstance]:
    try:
        started = PostgresInstance()
    except PostgresUnavailable as exc:
        missing(str(exc))
    with started:
        yield started


def test_committed_rows_survive_a_crash_and_a_clean_restart(instance: PostgresInstance) -> None:
    """Given a committed row, when the cluster is crashed and started again (then stopped
    cleanly and started), then the same engine reconnects (pre-ping) and reads the row."""
    engine = create_engine(instance.create_database("kept"), pool_pre_ping=True)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE kept (n int)"))
            connection.execute(text("INSERT INTO kept VALUES (1)"))
        port = instance.port
        for mode in ("immediate", "fast"):
            instance.stop(mode)
            assert not instance.running and not instance.accepts_connections()
            with pytest.raises(OperationalError), engine.connect():
                pass
            instance.start()
            assert instance.port == port and instance.running
            with engine.connect() as connection:
                assert connection.execute(text("SELECT count(*) FROM kept")).scalar() == 1
    finally:
        engine.dispose()


def test_a_database_name_must_be_a_plain_identifier(instance: PostgresInstance) -> None:
    """Given a name with a quote, when a database is created, then it is refused."""
    with pytest.raises(ValueError, match="plain identifier"):
        instance.create_database('x"; DROP')
