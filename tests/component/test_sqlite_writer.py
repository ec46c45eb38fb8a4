"""SQLite's writer lock between processes (issue 15): a waiting process takes it the moment
the holder lets go (an flock beside the database), not at SQLite's busy handler's next try;
a holder that dies lets go with it."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import text

from worker.engine.db import WriterBusy, make_engine, transaction, without_waiting
from worker.engine.sqlite_writer import WriterLock, writer_lock_path

CONTEXT = multiprocessing.get_context("spawn")  # a fresh interpreter, as another followup process


def hold(path: str, taken: Any, release: Any) -> None:
    """Take the lock, say so, and hold it until told to let go (or killed)."""
    lock = WriterLock(path)
    assert lock.acquire(timeout=10)
    taken.set()
    release.wait(30)
    lock.release()


def holder(path: Path) -> tuple[Any, Any, Any]:
    taken, release = CONTEXT.Event(), CONTEXT.Event()
    process = CONTEXT.Process(target=hold, args=(str(path), taken, release))
    process.start()
    assert taken.wait(30), "the holder never took the lock"
    return process, release, taken


def test_a_lock_another_process_holds_is_taken_once_it_lets_go(tmp_path: Path) -> None:
    """Given another process holding the writer lock, when this one asks for it, then it times
    out while the other holds it and gets it once the other lets go."""
    path = tmp_path / "followup.db-writer"
    process, release, _ = holder(path)
    mine = WriterLock(str(path))
    try:
        assert not mine.acquire(timeout=0.2)
        release.set()
        assert mine.acquire(timeout=10)
        mine.release()
    finally:
        release.set()
        process.join(10)


def test_a_holder_killed_mid_transaction_lets_go(tmp_path: Path) -> None:
    """Given another process holding the writer lock, when it is killed (SIGKILL), then this
    one gets the lock: no stale lock survives its process."""
    path = tmp_path / "followup.db-writer"
    process, _, _ = holder(path)
    os.kill(process.pid, signal.SIGKILL)
    process.join(10)
    mine = WriterLock(str(path))
    assert mine.acquire(timeout=10)
    mine.release()


def test_threads_of_one_process_take_turns_and_time_out(tmp_path: Path) -> None:
    """Given one thread holding the lock, another thread of the process times out, then gets it
    once the first lets go."""
    lock = WriterLock(str(tmp_path / "followup.db-writer"))
    assert lock.acquire(timeout=1)
    answers: list[bool] = []
    waiter = threading.Thread(target=lambda: answers.append(lock.acquire(timeout=0.1)))
    waiter.start()
    waiter.join()
    lock.release()
    assert answers == [False]
    assert lock.acquire(timeout=1)
    lock.release()


def test_the_engine_writes_through_the_lock_file_beside_the_database(tmp_path: Path) -> None:
    """Given a SQLite engine, when it writes, then the lock file sits beside the database and
    the write commits; an in-memory database has none."""
    database = tmp_path / "followup.db"
    engine = make_engine(f"sqlite:///{database}")
    try:
        with transaction(engine) as session:
            session.execute(text("CREATE TABLE t (x INTEGER)"))
            session.execute(text("INSERT INTO t VALUES (1)"))
        with transaction(engine) as session:
            assert session.execute(text("SELECT count(*) FROM t")).scalar_one() == 1
    finally:
        engine.dispose()
    assert Path(f"{database}-writer").exists()
    assert writer_lock_path(str(database)) == f"{database}-writer"
    assert writer_lock_path(":memory:") is None and writer_lock_path(None) is None


def test_a_write_that_must_not_wait_refuses_at_its_begin_while_another_writes(
    tmp_path: Path,
) -> None:
    """Given one thread in a write transaction, when another begins one on the engine without
    waiting, then it raises WriterBusy before any statement ran; once the first commits, it
    writes. PostgreSQL has no such engine (its statements are round trips)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'followup.db'}")
    at_once = without_waiting(engine)
    assert at_once is not None
    try:
        with transaction(engine) as session:
            session.execute(text("CREATE TABLE t (x INTEGER)"))
        refused: list[BaseException] = []

        def try_now() -> None:
            try:
                with transaction(at_once) as session:
                    session.execute(text("INSERT INTO t VALUES (2)"))
            except WriterBusy as exc:
                refused.append(exc)

        with transaction(engine) as session:
            session.execute(text("INSERT INTO t VALUES (1)"))
            other = threading.Thread(target=try_now)
            other.start()
            other.join(10)
        assert len(refused) == 1
        try_now()
        with transaction(engine) as session:
            assert session.execute(text("SELECT x FROM t ORDER BY x")).scalars().all() == [1, 2]
    finally:
        engine.dispose()
    postgres = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert without_waiting(postgres) is None
    postgres.dispose()
