"""FOLLOWUP_METRICS_PORT for the long-running commands: the ops server, wired to a runtime."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, CollectorRegistry

from worker.cli.common import fail
from worker.engine.metrics_state import exposition_registry, state_collector
from worker.engine.ops_server import OpsServer, OpsServerError
from worker.engine.readiness import Check, check_readiness, may_see_detail
from worker.engine.runtime import Runtime

if TYPE_CHECKING:  # dramatiq loads only in the processes that run a broker
    import dramatiq

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's switch to shared files


def start_metrics(
    rt: Runtime,
    *,
    broker: dramatiq.Broker | None = None,
    process: CollectorRegistry = REGISTRY,
    extra: Mapping[str, Callable[[], Check]] | None = None,
) -> OpsServer | None:
    """Serve /metrics, /healthz, /readyz when FOLLOWUP_METRICS_PORT is set; a busy port exits 2."""
    port = rt.settings.metrics_port
    if port is None:
        return None
    server = OpsServer(
        rt.settings.metrics_host,
        port,
        registry=exposition_registry(state_collector(rt, broker), process),
        readiness=lambda: check_readiness(rt, extra),
        may_see_detail=lambda header: may_see_detail(rt.engine, header),
    )
    try:
        server.start()
    except OpsServerError as exc:
        fail(str(exc))
    return server


@contextmanager
def shared_metrics_folder(enabled: bool) -> Iterator[CollectorRegistry | None]:
    """For `worker --processes N`: children spawned inside write their metrics to a fresh folder
    (prometheus_client's multiprocess mode) and the parent's registry adds them up."""
    if not enabled:
        yield None
        return
    from prometheus_client import multiprocess

    folder = tempfile.mkdtemp(prefix="followup-metrics-")
    previous = os.environ.get(MULTIPROCESS_DIR)
    os.environ[MULTIPROCESS_DIR] = folder  # read by each child when it imports prometheus_client
    registry = CollectorRegistry(auto_describe=False)
    multiprocess.MultiProcessCollector(registry, path=folder)
    try:
        yield registry
    finally:
        if previous is None:
            os.environ.pop(MULTIPROCESS_DIR, None)
        else:
            os.environ[MULTIPROCESS_DIR] = previous
        shutil.rmtree(folder, ignore_errors=True)


def mark_dead(pid: int | None) -> None:
    """A child that exited: drop its live gauges (in-progress messages) from the sums."""
    folder = os.environ.get(MULTIPROCESS_DIR)
    if folder and pid is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, folder)
