"""How a PostgreSQL race test knows its other transaction is blocked on a lock before it lets
the first one go: pg_stat_activity, polled."""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine, text


def waiting_on_a_lock(engine: Engine) -> int:
    """How many backends of this database wait for a lock now. A connection a call: the
    statistics views hold one snapshot a transaction."""
    with engine.connect() as connection:
        return int(
            connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND datname = current_database()"
                )
            ).scalar_one()
        )


def until_one_waits_on_a_lock(
    engine: Engine, waiter: threading.Thread, what: str, timeout: float = 20.0
) -> None:
    """Until some backend waits for a lock; fails when `waiter` ends or time runs out first."""
    deadline = time.monotonic() + timeout
    while waiting_on_a_lock(engine) == 0:
        assert time.monotonic() < deadline and waiter.is_alive(), f"{what} never waited"
        time.sleep(0.02)
