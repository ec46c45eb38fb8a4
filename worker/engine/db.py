"""The one place that builds engines and sessions (SQLite tuned for several writers)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Executable, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlmodel import Session, create_engine

import models  # noqa: F401  # registers every table on SQLModel.metadata
from worker.engine.sqlite_writer import WriterLock, writer_lock_path
from worker.engine.tunables import (
    DATABASE_POOL_SIZE,
    SQLITE_AUTOCHECKPOINT_PAGES,
    SQLITE_BUSY_TIMEOUT,
    SQLITE_WAL_SIZE_LIMIT,
)

READ_ONLY = "followup_read_only"
NO_WAIT = "followup_no_wait"


class WriterBusy(Exception):
    """A write transaction on a without_waiting() engine found the writer lock taken; raised
    at its BEGIN, before any statement ran."""


def make_engine(
    url: str, *, pool_size: int = DATABASE_POOL_SIZE, connect_timeout: int | None = None
) -> Engine:
    """An engine ready for concurrent workers: WAL + BEGIN IMMEDIATE on SQLite.

    `connect_timeout` (PostgreSQL, seconds): for checks that must not hang on a lost server.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={
                "check_same_thread": False,
                "timeout": SQLITE_BUSY_TIMEOUT.total_seconds(),
            },
        )
        _tune_sqlite(engine, WriterLock(writer_lock_path(parsed.database)))
        return engine
    connect_args = {"connect_timeout": connect_timeout} if connect_timeout else {}
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args=connect_args,
    )


def _tune_sqlite(engine: Engine, writer: WriterLock) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT.total_seconds() * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT_PAGES}")
        cursor.execute(f"PRAGMA journal_size_limit={SQLITE_WAL_SIZE_LIMIT}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    # One writer at a time, handed over the moment it commits (sqlite_writer.WriterLock):
    # threads and processes would otherwise meet at SQLite's busy handler, which sleeps and
    # polls (1, 2, 5 ... 100 ms).
    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers take the lock up front (no deadlocking upgrades); readers never block them.
        options = connection.get_execution_options()
        if options.get(READ_ONLY, False):
            connection.exec_driver_sql("BEGIN")
            return
        no_wait = options.get(NO_WAIT, False)  # see without_waiting()
        if writer.acquire(timeout=0 if no_wait else SQLITE_BUSY_TIMEOUT.total_seconds()):
            connection.info[_WRITER] = writer
        elif no_wait:
            raise WriterBusy("another transaction holds SQLite's writer lock")
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release_writer(connection)
            raise

    event.listen(engine, "commit", _release_writer)
    event.listen(engine, "rollback", _release_writer)

    @event.listens_for(engine.pool, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:  # however a connection ends
        held = record.info.pop(_WRITER, None) if record is not None else None
        if held is not None:
            held.release()


_WRITER = "followup_sqlite_writer"


def _release_writer(connection: Any) -> None:
    held = connection.info.pop(_WRITER, None)
    if held is not None:
        held.release()


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


def read_only(engine: Engine) -> Engine:
    """The same engine for reads only: on SQLite a plain BEGIN, so writers are not held up."""
    return engine.execution_options(**{READ_ONLY: True})


@lru_cache(maxsize=8)  # per request on the API's hot path: built once per engine
def without_waiting(engine: Engine) -> Engine | None:
    """SQLite: the same engine, whose write transactions raise WriterBusy instead of waiting
    for the writer lock, for a caller that must not block (the API's event loop); None on
    PostgreSQL, where every statement is a round trip the caller would block on."""
    if engine.dialect.name != "sqlite":
        return None
    return engine.execution_options(**{NO_WAIT: True})


@contextmanager
def reading(engine: Engine) -> Iterator[Session]:
    """A session for reports and lookups, on `read_only(engine)`."""
    with Session(read_only(engine), expire_on_commit=False) as session, session.begin():
        yield session


def changed_rows(session: Session, statement: Executable) -> int:
    """How many rows an UPDATE changed: how a compare-and-set learns whether it won."""
    result = cast(CursorResult[Any], session.execute(statement))
    return int(result.rowcount)


def core_changed_rows(
    session: Session,
    statement: Executable,
    params: dict[str, Any] | Sequence[dict[str, Any]] | None = None,
) -> int:
    """changed_rows for a Core statement (on a Table), run on the session's connection: no ORM
    bookkeeping (autoflush, synchronising loaded objects), for the hot path of delivery. A list
    of parameter sets is one executemany, and the rows it changed in all."""
    result = cast(CursorResult[Any], session.connection().execute(statement, params))
    return int(result.rowcount)


def insert_new(session: Session, table: type[Any], rows: list[dict[str, Any]]) -> int:
    """INSERT ... ON CONFLICT DO NOTHING: how a once-only row learns whether it is the first."""
    if not rows:
        return 0
    return changed_rows(
        session, dialect_insert(session, table).values(rows).on_conflict_do_nothing()
    )


def dialect_insert(session: Session, table: Any) -> Any:
    """The backend's own INSERT for `table` (SQLite's or PostgreSQL's), which has ON CONFLICT."""
    dialect = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
    return dialect.insert(table)


def refresh_statistics(engine: Engine, tables: Sequence[str]) -> None:
    """PostgreSQL: ANALYZE these tables now (after a bulk write; reads and writes go on);
    SQLite: nothing (tunables.IMPORT_ANALYZE_ROWS says why)."""
    if engine.dialect.name != "postgresql" or not tables:
        return
    with engine.begin() as connection:
        quoted = ", ".join(connection.dialect.identifier_preparer.quote(t) for t in tables)
        connection.exec_driver_sql(f"ANALYZE {quoted}")


def checkpoint(engine: Engine) -> None:
    """SQLite: copy the WAL back into the database now, when the caller is between its hot
    paths, instead of in whichever commit filled it (PASSIVE: readers and writers go on; what a
    reader still needs stays in the WAL for the next one). PostgreSQL: nothing to do."""
    if engine.dialect.name != "sqlite":
        return
    connection = engine.raw_connection()  # no BEGIN: the connection is in autocommit mode
    try:
        connection.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    finally:
        connection.close()


def ping(engine: Engine) -> str | None:
    """None when the database answers, else the reason in one line."""
    try:
        with read_only(engine).connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not answering"
        return str(exc).splitlines()[0]
    return None
