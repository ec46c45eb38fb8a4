"""Mailbox daily limits across real worker processes: the count lives in the database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from testkit.smtp_sink import SmtpSink
from tests.support.processes import Deployment, running, wait_ready, wait_until

pytestmark = pytest.mark.integration

SEQUENCE = """
name: limited
trigger: lead.mql
from: owner
steps:
  - id: one
    email: l/one
"""
TEAM = """
owners:
  - email: rep@acme.test
    name: Rep
    daily_limit: 5
    timezone: America/New_York
"""
TEMPLATES = {
    "l/one.j2": """
    {% block subject %}Hello {{ lead.email }}{% endblock %}
    {% block text %}Hi. {{ unsubscribe_url }}{% endblock %}
"""
}


@pytest.fixture
def deployment(
    tmp_path: Path, postgres_url: str, clean_redis_url: str
) -> Iterator[tuple[Deployment, SmtpSink]]:
    with SmtpSink() as sink:
        deployed = Deployment(
            tmp_path,
            database_url=postgres_url,
            redis_url=clean_redis_url,
            smtp_url=sink.url,
            sequences={"limited.yaml": SEQUENCE, "team.yaml": TEAM},
            templates=TEMPLATES,
        )
        yield deployed, sink
        deployed.close()


def test_daily_limit_of_5_holds_across_two_worker_processes(
    deployment: tuple[Deployment, SmtpSink],
) -> None:
    """Given 2 processes x 8 threads and daily_limit 5, when 20 touches fall due, 5 go, 15 defer."""
    deployed, sink = deployment
    with running(deployed.env, deployed.folder) as processes:
        workers = processes.worker(processes=2, threads=8)
        scheduler = processes.scheduler()
        wait_ready(workers, "worker started", count=2)
        wait_ready(scheduler, "scheduler started")
        deployed.enroll(
            [{"email": f"lead{i:02d}@example.com", "owner": "rep@acme.test"} for i in range(20)]
        )

        def settled() -> dict[str, int] | None:
            counts = deployed.counts()
            return counts if counts.get("sent", 0) + counts.get("deferred", 0) == 20 else None

        counts = wait_until(
            settled, timeout=60, processes=processes, what="20 touches sent or deferred"
        )
    assert counts == {"sent": 5, "deferred": 15}
    assert len(sink.messages) == 5
    zone = ZoneInfo("America/New_York")
    rows = deployed.touches()
    sent_day = {t.completed_at.astimezone(zone).date() for t, _ in rows if t.status == "sent"}
    deferred_to = {t.due_at.astimezone(zone) for t, _ in rows if t.status == "deferred"}
    [day] = sent_day
    [next_midnight] = deferred_to
    assert next_midnight.date() == day + timedelta(days=1)
    assert (next_midnight.hour, next_midnight.minute) == (0, 0)
