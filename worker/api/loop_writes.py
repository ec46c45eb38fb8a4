"""A short write from an async route: on the event loop when it cannot wait, else in the
threadpool.

On SQLite a write whose writer lock is free this instant runs on the loop (an insert and its
commit, ~0.2 ms); one that would wait for the lock (the event applier's batch, another
process's transaction) goes to the threadpool, as on PostgreSQL, where every statement is a
round trip. A write in the threadpool cost the API's POST /events ~0.4 ms of CPU more a request
than the same write on the loop (server and client, 2 cores, issue 15): the hand-off between
threads, not the write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from worker.engine.db import WriterBusy, without_waiting

T = TypeVar("T")


async def write(engine: Engine, work: Callable[[Engine], T]) -> T:
    """work(engine): its one write transaction on the loop if it can start at once, else (not
    begun: WriterBusy is raised at BEGIN) in the threadpool, where it waits its turn."""
    at_once = without_waiting(engine)
    if at_once is not None:
        try:
            return work(at_once)
        except WriterBusy:
            pass
    return await run_in_threadpool(work, engine)
