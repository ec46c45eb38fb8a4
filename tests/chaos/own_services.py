"""Parts scenarios 6, 7, 9 and 10 start for themselves: a private PostgreSQL and `followup api`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from testkit.chaos.cluster import Cluster
from testkit.chaos.postgres_instance import PostgresInstance, PostgresUnavailable
from testkit.ports import free_port
from tests.support.processes import wait_until
from tests.support.services import missing
from worker.auth.apikeys import create_key
from worker.engine.db import transaction

API_TIMEOUT = 30.0  # seconds per request: a loaded machine is slow, a hang still fails


@contextmanager
def private_postgres(settings: dict[str, str] | None = None) -> Iterator[PostgresInstance]:
    """A started PostgreSQL of the test's own; skipped (failed in CI) when none can run."""
    try:
        instance = PostgresInstance(settings)
    except PostgresUnavailable as exc:
        missing(str(exc))
    with instance:
        yield instance


@contextmanager
def api_client(cluster: Cluster) -> Iterator[httpx.Client]:
    """`followup api` on a free port as one of the cluster's processes, and an HTTP client
    holding a fresh API key, once /readyz answers."""
    with transaction(cluster.rt.engine) as session:
        key = create_key(session, "chaos", now=cluster.rt.clock.now())
    port = free_port()
    cluster.processes.start("api", "api", "--port", str(port))
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(
        base_url=f"http://127.0.0.1:{port}", timeout=API_TIMEOUT, headers=headers
    ) as client:

        def ready() -> bool:
            try:
                return client.get("/readyz").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, timeout=60, what="the API to answer /readyz", processes=cluster.processes)
        yield client


def recorded_late(folder: Path) -> set[str]:
    """Message-IDs whose sender found the touch already recorded by another worker when its own
    commit came ("already_finished" in the worker logs): the sink had accepted them, the commit
    that says so came after the lease (a slow database), and the re-drive sent them again with
    the same Message-ID: the ack instant of SPEC section 12."""
    found = set()
    for log in folder.glob("worker*.log"):
        for line in log.read_text(errors="replace").splitlines():
            if "already_finished" in line and "message_id=" in line:
                found.add(line.split("message_id=", 1)[1].split("]", 1)[0].split(" ", 1)[0])
    return found
