"""FOLLOWUP_METRICS_PORT on real `followup scheduler` and `followup worker --processes 2`
processes (Redis, SQLite, SMTP sink): /metrics adds up the children, /healthz and /readyz
answer, and a port already taken is one line and exit 2 before anything starts."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from testkit.harness import template
from testkit.smtp_sink import SmtpSink
from tests.support.processes import (
    Deployment,
    followup_command,
    running,
    wait_ready,
    wait_until,
)
from tests.support.services import free_port

pytestmark = pytest.mark.integration
SEQUENCE = """
name: mql
trigger: lead.mql
steps:
  - id: intro
    email: t/intro
"""
LEADS = 12


@pytest.fixture
def deployment(tmp_path: Path, clean_redis_url: str) -> Iterator[tuple[Deployment, SmtpSink]]:
    with SmtpSink() as sink:
        deployed = Deployment(
            tmp_path,
            database_url=f"sqlite:///{tmp_path / 'followup.db'}",
            redis_url=clean_redis_url,
            smtp_url=sink.url,
            sequences={"mql.yaml": SEQUENCE},
            templates={"t/intro.j2": template("Hello")},
        )
        try:
            yield deployed, sink
        finally:
            deployed.close()


def scrape(port: int) -> dict[str, float]:
    """`name{labels}` -> value, summed over label sets that differ only by process."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()) if k != "pid")
            key = f"{sample.name}{{{labels}}}"
            values[key] = values.get(key, 0.0) + sample.value
    return values


def test_the_scheduler_and_two_worker_processes_serve_metrics_health_and_readiness(
    deployment: tuple[Deployment, SmtpSink],
) -> None:
    """Given a scheduler and `worker --processes 2`, each with a metrics port, when 12 emails
    go out, then the worker's /metrics counts 12 sent across both children and the
    scheduler's shows the claims and an empty backlog; both answer /healthz and /readyz."""
    deployed, sink = deployment
    scheduler_port, worker_port = free_port(), free_port()
    env = deployed.env
    with running(env, deployed.folder) as processes:
        processes.env = {**env, "FOLLOWUP_METRICS_PORT": str(worker_port)}
        workers = processes.worker(processes=2, threads=2)
        processes.env = {**env, "FOLLOWUP_METRICS_PORT": str(scheduler_port)}
        scheduler = processes.scheduler()
        wait_ready(workers, "worker started", count=2)
        wait_ready(scheduler, "scheduler started")
        deployed.enroll([{"email": f"lead{n}@example.com"} for n in range(LEADS)])
        deployed.wait_sent(LEADS, processes=processes, timeout=90)

        def counted() -> dict[str, float] | None:
            figures = scrape(worker_port)
            sent = figures.get("followup_touches_total{outcome=sent,sequence=mql}", 0)
            return figures if sent == LEADS else None

        worker_figures = wait_until(counted, timeout=30, what="12 sends in the worker's metrics")
        messages = "followup_queue_messages_total{actor=send_touch,queue=touches,result=ok}"
        assert worker_figures[messages] >= LEADS
        assert worker_figures["followup_smtp_send_seconds_count{result=accepted}"] == LEADS
        scheduler_figures = scrape(scheduler_port)
        assert scheduler_figures["followup_claim_batch_size_sum{}"] >= LEADS
        assert scheduler_figures["followup_due_backlog{}"] == 0
        assert scheduler_figures["followup_scheduler_ticks_total{result=ok}"] >= 1
        for port in (scheduler_port, worker_port):
            assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz")
            assert (ready.status_code, ready.json()) == (200, {"status": "ok"})
    assert len(sink.messages) == LEADS


def test_a_metrics_port_in_use_is_one_line_and_exit_2(
    deployment: tuple[Deployment, SmtpSink],
) -> None:
    """Given something already listening on FOLLOWUP_METRICS_PORT, `followup scheduler` and
    `followup worker --processes 2` exit 2 at once with one line naming the variable."""
    deployed, _ = deployment
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**deployed.env, "FOLLOWUP_METRICS_PORT": str(port)}
        for args in (["scheduler"], ["worker", "--processes", "2"]):
            result = subprocess.run(
                [*followup_command(), *args], env=env, capture_output=True, text=True, timeout=60
            )
            assert result.returncode == 2, result.stderr
            [line] = result.stderr.strip().splitlines()
            assert line == (
                f"error: FOLLOWUP_METRICS_PORT {port} on 127.0.0.1 is already in use: "
                "choose a free port, or unset it to serve no metrics"
            )
