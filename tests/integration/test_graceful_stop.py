"""`followup worker` stops cleanly (issue 9): on SIGTERM the sends in flight finish and the
touches it fetched but had not started go back to the database, within GRACEFUL_STOP; a second
SIGTERM ends it at once and loses nothing (the leases re-drive). Real processes, Redis,
PostgreSQL and a slow SMTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from models.touch import TouchStatus
from testkit.ports import free_port
from tests.support.processes import Deployment, running, start_ready, wait_ready, wait_until
from worker.engine.tunables import GRACEFUL_STOP

pytestmark = pytest.mark.integration

SEQUENCE = """
name: calm
trigger: lead.mql
steps:
  - id: one
    email: c/one
"""
TEMPLATES = {
    "c/one.j2": """
        {% block subject %}Hello {{ lead.first_name }}{% endblock %}
        {% block text %}Hi. {{ unsubscribe_url }}{% endblock %}
    """
}


class SlowSink:
    """An SMTP server on 127.0.0.1 that answers each DATA after `delay` seconds."""

    def __init__(self) -> None:
        self.delay = 1.5  # sends stay in flight a while
        self.message_ids: list[str] = []
        self._lock = threading.Lock()
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        with self._lock:
            self.message_ids.append(str(message_from_bytes(envelope.content)["Message-ID"]))
        return "250 2.0.0 OK queued"

    def received(self) -> list[str]:
        with self._lock:
            return list(self.message_ids)

    def __enter__(self) -> SlowSink:
        self._controller.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._controller.stop()


@pytest.fixture
def sink() -> Iterator[SlowSink]:
    with SlowSink() as started:
        yield started


def deploy(tmp_path: Path, postgres_url: str, redis_url: str, sink: SlowSink) -> Deployment:
    return Deployment(
        tmp_path,
        database_url=postgres_url,
        redis_url=redis_url,
        smtp_url=f"smtp://127.0.0.1:{sink.port}",
        sequences={"calm.yaml": SEQUENCE},
        templates=TEMPLATES,
        lease_seconds="20",  # the SMTP timeout (5 s) outlasts the sink's delay; re-drives in 20 s
    )


def leads(count: int) -> list[dict[str, str]]:
    return [{"email": f"calm{i:02d}@example.com", "first_name": f"C{i:02d}"} for i in range(count)]


def in_flight(deployment: Deployment, sink: SlowSink) -> set[str]:
    """Touches `sending` whose message the server has not accepted yet: their send has a while
    to run (a touch accepted but not yet recorded is `sending` too, and about to finish)."""
    accepted = set(sink.received())
    sending = {t.message_id for t, _ in deployment.touches() if t.status == TouchStatus.SENDING}
    return sending - accepted


def check_all_sent_once_but(deployment: Deployment, sink: SlowSink, total: int) -> set[str]:
    """Every touch sent and recorded, each Message-ID at the server; returns those resent."""
    rows = [touch for touch, _ in deployment.touches()]
    assert len(rows) == total and all(t.status == TouchStatus.SENT for t in rows)
    assert set(sink.received()) == {t.message_id for t in rows}
    return {mid for mid, n in Counter(sink.received()).items() if n > 1}


def test_sigterm_finishes_the_sends_in_flight_and_returns_the_rest(
    tmp_path: Path, postgres_url: str, clean_redis_url: str, sink: SlowSink
) -> None:
    """Given a worker with 4 threads busy on slow sends, when it gets SIGTERM, then it exits 0
    within GRACEFUL_STOP, nothing is left `sending`, every message the server accepted is
    recorded sent, and the touches it had fetched are due again; a new worker sends the rest,
    none twice. (SIGKILL comes only GRACEFUL_STOP + 10 s after the SIGTERM.)"""
    deployment = deploy(tmp_path, postgres_url, clean_redis_url, sink)
    try:
        with running(deployment.env, deployment.folder) as processes:
            start_ready(processes, threads=4)
            deployment.enroll(leads(40))
            wait_until(lambda: len(sink.received()) >= 4, timeout=60, what="4 accepted sends")
            worker = processes.named("worker")
            started = time.monotonic()
            code = worker.stop(timeout=GRACEFUL_STOP.total_seconds() + 10)
            processes.expected_dead.add(worker.name)
            took = time.monotonic() - started
            counts = deployment.counts()
            output = worker.output(tail=400)
            print(f"graceful stop took {took:.1f}s")  # a figure, not a check (shared cores)
            assert code == 0, output
            assert counts.get("sending", 0) == 0, counts
            sent = {t.message_id for t, _ in deployment.touches() if t.status == TouchStatus.SENT}
            assert sent == set(sink.received())
            assert "queued touch(es) returned to the database, 0 still running" in output
            wait_ready(processes.worker("worker-2", threads=4), "worker started")
            deployment.wait_sent(40, processes=processes, timeout=120)
        assert check_all_sent_once_but(deployment, sink, 40) == set()
    finally:
        deployment.close()


def test_a_second_sigterm_exits_at_once_and_the_leases_redrive_what_was_sending(
    tmp_path: Path, postgres_url: str, clean_redis_url: str, sink: SlowSink
) -> None:
    """Given a stopping worker, when a second SIGTERM comes a few seconds later, then it exits
    at once (143) and every touch it held is sent by the next worker: only those caught
    `sending` may reach the server twice, with the same Message-ID."""
    sink.delay = 4.0  # the sends in flight outlast the wait before the second signal
    deployment = deploy(tmp_path, postgres_url, clean_redis_url, sink)
    try:
        with running(deployment.env, deployment.folder) as processes:
            start_ready(processes, threads=4)
            deployment.enroll(leads(20))
            wait_until(
                lambda: len(sink.received()) >= 4 and len(in_flight(deployment, sink)) >= 2,
                timeout=60,
                what="a first batch accepted and the next one in flight",
            )
            worker = processes.named("worker")
            worker.popen.send_signal(signal.SIGTERM)
            time.sleep(2.5)  # past the window in which a repeated signal counts as the same one
            caught = {
                t.message_id for t, _ in deployment.touches() if t.status == TouchStatus.SENDING
            }
            worker.popen.send_signal(signal.SIGTERM)
            assert worker.popen.wait(timeout=10) == 128 + signal.SIGTERM
            processes.expected_dead.add(worker.name)
            wait_ready(processes.worker("worker-2", threads=4), "worker started")
            deployment.wait_sent(20, processes=processes, timeout=120)
        assert check_all_sent_once_but(deployment, sink, 20) <= caught
    finally:
        deployment.close()
