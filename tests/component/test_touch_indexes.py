"""The touch's lookups still find an index after issue 15 made the mostly-NULL indexes and the
report's sent-email indexes partial (an enrollment's touches: ix_touch_enrollment_step): each
query, bound as the code binds it, is planned on the index that serves it, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, or_, select
from sqlmodel import col

from models.touch import FINAL, SENT_EMAIL_SQL, WAITING, WAITING_SQL, Touch, sent_email
from worker.engine.db import make_engine
from worker.engine.schema import prepare_schema
from worker.flow.guardrails import ANSWERS_SEEN
from worker.flow.scheduling import _CLAIM, IN_FLIGHT

SINCE = datetime(2026, 11, 1, tzinfo=UTC)

# what the code looks up (worker/flow, inbox, guardrails, redrive) -> the index that serves it
LOOKUPS: dict[str, tuple[Any, set[str] | tuple[str, ...]]] = {
    "an enrollment's pending touches": (
        select(col(Touch.id)).where(col(Touch.enrollment_id) == 7, col(Touch.status).not_in(FINAL)),
        {"ix_touch_enrollment_step"},
    ),
    "an enrollment's step": (
        select(col(Touch.id)).where(col(Touch.enrollment_id) == 7, col(Touch.step) == "one"),
        {"ix_touch_enrollment_step"},
    ),
    "the report's enrollment mailed within a window": (
        select(col(Touch.id)).where(
            col(Touch.enrollment_id) == 7, sent_email(), col(Touch.completed_at) >= SINCE
        ),
        # PostgreSQL may take its other index of the sent emails alone on an empty table (a
        # tie: neither holds a row); both leave every waiting touch out
        ("ix_touch_emailed", "ix_touch_sent_email"),  # a tuple: either one
    ),
    "the touch a reply names": (
        select(col(Touch.id)).where(col(Touch.message_id) == "<a@example.com>"),
        {"ix_touch_message_id"},
    ),
    "leases that ran out": (
        select(col(Touch.id)).where(
            col(Touch.status).in_(IN_FLIGHT), col(Touch.lease_until) < SINCE
        ),
        {"ix_touch_status_lease"},
    ),
    "the window's bounces and complaints": (
        select(col(Touch.id)).where(
            or_(col(Touch.bounced_at) >= SINCE, col(Touch.complained_at) >= SINCE)
        ),
        {"ix_touch_bounced_at", "ix_touch_complained_at"},
    ),
    "the guardrail watch's answers seen": (
        ANSWERS_SEEN,
        {"ix_touch_bounced_at", "ix_touch_complained_at"},
    ),
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database on each backend."""
    if request.param == "postgres":
        url = str(request.getfixturevalue("postgres_url"))
    else:
        url = f"sqlite:///{tmp_path / 'indexes.db'}"
    built = make_engine(url)
    prepare_schema(built, upgrade=True)
    yield built
    built.dispose()


def plan(engine: Engine, statement: Any, **bound: Any) -> str:
    """The backend's plan for `statement` with its parameters bound (PostgreSQL: a generic
    plan, as a prepared statement gets; sequential scans discouraged on the empty table)."""
    compiled = statement.compile(
        dialect=engine.dialect, compile_kwargs={"render_postcompile": True}
    )
    params = compiled.construct_params(bound) if bound else compiled.params
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            values = tuple(params[name] for name in compiled.positiontup)
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", values)
            return "\n".join(str(row[-1]) for row in rows)
        connection.exec_driver_sql("SET enable_seqscan = off")
        connection.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        rows = connection.exec_driver_sql(f"EXPLAIN {compiled}", params)
        return "\n".join(str(row[0]) for row in rows)


@pytest.mark.parametrize("lookup", sorted(LOOKUPS))
def test_each_touch_lookup_is_planned_on_its_index(engine: Engine, lookup: str) -> None:
    """Given the migrated schema, when the lookup is planned, then it reads the index(es) that
    serve it, not the whole table (the partial ones included: the comparison implies a value)."""
    statement, indexes = LOOKUPS[lookup]
    planned = plan(engine, statement)
    found = any if isinstance(indexes, tuple) else all  # a set: every one is read
    assert found(index in planned for index in indexes), planned


def test_the_reports_sent_emails_are_counted_from_an_index_alone(engine: Engine) -> None:
    """Given the migrated schema, the report's count of sent emails per sequence, step and
    mailbox is planned on PostgreSQL's partial ix_touch_sent_email and SQLite's covering
    ix_touch_sent."""
    per = (col(Touch.sequence), col(Touch.step), col(Touch.sender))
    statement = select(*per, func.count()).where(sent_email()).group_by(*per)
    planned = plan(engine, statement)
    expected = "ix_touch_sent_email" if engine.dialect.name == "postgresql" else "ix_touch_sent"
    assert f"{expected} " in planned or planned.endswith(expected), planned


def test_a_waiting_touch_is_in_none_of_the_partial_indexes(tmp_path: Path) -> None:
    """Given the migrated SQLite schema, the partial indexes hold only rows with the value set
    or the emails sent, and an enrollment's index has no status: a claim (status and lease
    change) moves no entry of theirs but the new lease's."""
    engine = make_engine(f"sqlite:///{tmp_path / 'indexes.db'}")
    prepare_schema(engine, upgrade=True)
    with engine.connect() as connection:
        sql: dict[str, str] = dict(
            connection.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'touch'"
            ).all()
        )
    engine.dispose()
    assert "ix_touch_enrollment_id" not in sql
    for name, column in (
        ("ix_touch_status_lease", "lease_until"),
        ("ix_touch_message_id", "message_id"),
        ("ix_touch_completed_at", "completed_at"),
        ("ix_touch_bounced_at", "bounced_at"),
        ("ix_touch_complained_at", "complained_at"),
    ):
        assert sql[name].endswith(f"WHERE {column} IS NOT NULL"), sql[name]
    for name in ("ix_touch_emailed", "ix_touch_sent"):
        assert sql[name].endswith(f"WHERE {SENT_EMAIL_SQL}"), sql[name]
    assert "status" not in sql["ix_touch_enrollment_step"]


def test_the_schedulers_claim_reads_the_first_due_in_order(engine: Engine) -> None:
    """Given the migrated schema, the scheduler's claim is planned on ix_touch_due, in its
    order: no sort of every touch due (a backlog of n cost n rows a claim through
    ix_touch_status_due), and on PostgreSQL one probe an id, even as a generic plan."""
    planned = plan(engine, _CLAIM[engine.dialect.name], now=SINCE, limit=500, lease_until=SINCE)
    assert "ix_touch_due" in planned, planned
    assert "Sort" not in planned and "TEMP B-TREE" not in planned, planned
    assert "Seq Scan" not in planned and "SCAN touch" not in planned, planned


def test_the_waiting_predicate_names_the_waiting_statuses() -> None:
    """ix_touch_due's literal predicate (is_waiting) and WAITING say the same statuses."""
    spelled_out = f"status IN ({', '.join(repr(str(s)) for s in WAITING)})"
    assert spelled_out == WAITING_SQL
