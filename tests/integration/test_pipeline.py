"""The engine on real parts: PostgreSQL, Redis, an aiosmtpd sink, and separate `followup
scheduler` / `followup worker` processes, on second-scale waits (real time, polled)."""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from models.compliance import ComplianceEntry
from models.enrollment import Enrollment
from models.lead import Lead
from testkit.smtp_sink import SmtpSink
from tests.support.processes import Deployment, running, save_figures, start_ready

pytestmark = pytest.mark.integration

PIPELINE = """
name: pipeline
trigger: lead.mql
steps:
  - id: one
    email: p/one
  - id: two
    email: p/two
    wait: 2s
  - id: three
    email: p/three
    wait: 2s
    thread: true
"""
NURTURE = """
name: nurture
trigger: lead.nurture
steps:
  - id: later
    email: p/two
    wait: 1h
"""
TEMPLATES = {
    "p/one.j2": """
        {% block subject %}{{ lead.first_name }}, one{% endblock %}
        {% block text %}Hi {{ lead.first_name }}, one. {{ unsubscribe_url }}{% endblock %}
    """,
    "p/two.j2": """
        {% block subject %}{{ lead.first_name }}, two{% endblock %}
        {% block text %}Hi {{ lead.first_name }}, two. {{ unsubscribe_url }}{% endblock %}
    """,
    "p/three.j2": """
        {% block text %}Hi {{ lead.first_name }}, three. {{ unsubscribe_url }}{% endblock %}
    """,
}
BOUNCE = "bounce@example.com"


def leads(count: int) -> list[dict[str, str]]:
    return [
        {"email": f"lead{i:03d}@example.com", "first_name": f"Lead{i:03d}"} for i in range(count)
    ]


def expected_subjects(first_name: str) -> list[str]:
    return [f"{first_name}, one", f"{first_name}, two", f"Re: {first_name}, one"]


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as started:
        yield started


@pytest.fixture
def deployment(
    tmp_path: Path, postgres_url: str, clean_redis_url: str, sink: SmtpSink
) -> Iterator[Deployment]:
    deployed = Deployment(
        tmp_path,
        database_url=postgres_url,
        redis_url=clean_redis_url,
        smtp_url=sink.url,
        sequences={"pipeline.yaml": PIPELINE, "nurture.yaml": NURTURE},
        templates=TEMPLATES,
    )
    yield deployed
    deployed.close()


def messages_by_recipient(sink: SmtpSink) -> dict[str, list]:
    by_rcpt: dict[str, list] = defaultdict(list)
    for received in sink.messages:
        by_rcpt[received.rcpt_tos[0]].append(received.message)
    return by_rcpt


def assert_three_in_order(sink: SmtpSink, crowd: list[dict[str, str]]) -> None:
    """Each lead got its 3 subjects in step order; the third replies in the first's thread."""
    by_rcpt = messages_by_recipient(sink)
    for lead in crowd:
        received = by_rcpt[lead["email"]]
        assert [str(m["Subject"]) for m in received] == expected_subjects(lead["first_name"])
        assert received[2]["In-Reply-To"] == received[0]["Message-ID"]
        assert received[2]["References"] == received[0]["Message-ID"]


def assert_waits_kept(rows: list) -> None:
    """Step two went out at least 2s after step one, and three at least 2s after two."""
    completed: dict[str, dict[str, datetime]] = defaultdict(dict)
    for touch, email in rows:
        completed[email][touch.step] = touch.completed_at
    for steps in completed.values():
        assert steps["two"] - steps["one"] >= timedelta(seconds=2)
        assert steps["three"] - steps["two"] >= timedelta(seconds=2)


def test_600_emails_reach_the_sink_once_each_in_step_order(
    deployment: Deployment, sink: SmtpSink, artifacts_dir: Path
) -> None:
    """Given 2 schedulers and 2x4 workers, when 200 leads enroll in 3 steps, 600 arrive once."""
    with running(deployment.env, deployment.folder) as processes:
        start_ready(processes, schedulers=2, worker_processes=2, threads=4)
        started = time.monotonic()
        deployment.enroll(leads(200))
        counts = deployment.wait_sent(600, processes=processes, timeout=180)
        wall = time.monotonic() - started

    assert counts == {"sent": 600}
    assert sorted(messages_by_recipient(sink)) == sorted(lead["email"] for lead in leads(200))
    assert_three_in_order(sink, leads(200))
    sink_ids = sink.message_ids()
    assert len(sink_ids) == len(set(sink_ids)) == 600
    rows = deployment.touches()
    assert {touch.message_id for touch, _ in rows} == set(sink_ids)
    assert all(touch.attempts == 1 for touch, _ in rows)
    assert_waits_kept(rows)
    burst = [touch.completed_at for touch, _ in rows if touch.step == "one"]
    burst_seconds = max((max(burst) - min(burst)).total_seconds(), 0.001)
    save_figures(
        artifacts_dir,
        "pipeline-600",
        {
            "emails": 600,
            "wall_seconds": round(wall, 2),
            "messages_per_second": round(600 / wall, 1),
            "first_step_burst_seconds": round(burst_seconds, 2),
            "first_step_messages_per_second": round(200 / burst_seconds, 1),
        },
    )


class FailFirst:
    """A sink predicate that refuses each of `addresses` for its first `times` recipients."""

    def __init__(self, addresses: set[str], times: int) -> None:
        self.addresses, self.times = addresses, times
        self.seen: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, address: str) -> bool:
        with self.lock:
            if address not in self.addresses or self.seen[address] >= self.times:
                return False
            self.seen[address] += 1
            return True


def assert_bounce_handled(deployment: Deployment, rows: list) -> None:
    """550 5.1.1: the touch failed with the reason, the lead is suppressed, the rest cancelled."""
    bounced = {touch.step: touch for touch, email in rows if email == BOUNCE}
    assert set(bounced) == {"one", "later"}  # no later pipeline step was ever planned
    assert bounced["one"].status == "failed" and "5.1.1" in (bounced["one"].detail or "")
    assert bounced["later"].status == "cancelled"
    assert bounced["later"].detail == "exited: email.bounced"
    with Session(deployment.rt.engine) as session:
        lead = session.exec(select(Lead).where(Lead.email == BOUNCE)).one()
        assert lead.suppressed_at is not None and lead.suppressed_reason == "email.bounced"
        exits = session.exec(
            select(Enrollment.status, Enrollment.exit_reason).where(Enrollment.lead_id == lead.id)
        ).all()
        assert sorted(exits) == [("exited", "email.bounced")] * 2
        failed = session.exec(
            select(ComplianceEntry).where(
                ComplianceEntry.kind == "touch.failed", col(ComplianceEntry.lead_email) == BOUNCE
            )
        ).all()
        assert len(failed) == 1 and "5.1.1" in (failed[0].detail or "")


def test_451_is_retried_until_sent_and_550_fails_and_suppresses(
    deployment: Deployment, sink: SmtpSink, artifacts_dir: Path
) -> None:
    """Given 451 twice for every 5th lead and 550 5.1.1 for one: retried to sent; one suppressed."""
    crowd = leads(40)
    deferred = {lead["email"] for lead in crowd[::5]}
    sink.fail(BOUNCE, "550 5.1.1 <bounce@example.com>: no such user")
    sink.fail(FailFirst(deferred, times=2), "451 4.3.0 mailbox busy, try again later")
    with running(deployment.env, deployment.folder) as processes:
        start_ready(processes)
        deployment.enroll([{"email": BOUNCE, "first_name": "Bounce"}], event_type="lead.nurture")
        enrolled_at = deployment.rt.clock.now()
        deployment.enroll([*crowd, {"email": BOUNCE, "first_name": "Bounce"}])
        counts = deployment.wait_sent(120, processes=processes, timeout=120)

    assert counts == {"sent": 120, "failed": 1, "cancelled": 1}
    rows = deployment.touches()
    retried = [t for t, email in rows if email in deferred and t.step == "one"]
    assert len(retried) == 8 and all(t.attempts == 3 and t.status == "sent" for t in retried)
    assert all(t.attempts == 1 for t, email in rows if email not in deferred | {BOUNCE})
    assert_three_in_order(sink, crowd)
    assert BOUNCE not in messages_by_recipient(sink)
    assert len(sink.message_ids()) == len(set(sink.message_ids())) == 120
    assert_bounce_handled(deployment, rows)

    def first_step_sent_after(emails: set[str]) -> float:
        return round(
            max(
                (t.completed_at - enrolled_at).total_seconds()
                for t, email in rows
                if email in emails and t.step == "one"
            ),
            2,
        )

    save_figures(
        artifacts_dir,
        "pipeline-retries",
        {
            "retried_touches": len(retried),
            "first_step_sent_after_seconds_with_two_451": first_step_sent_after(deferred),
            "first_step_sent_after_seconds_without": first_step_sent_after(
                {lead["email"] for lead in crowd} - deferred
            ),
        },
    )
