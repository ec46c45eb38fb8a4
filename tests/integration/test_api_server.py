"""`followup api` as a real uvicorn server on a free port, spoken to over HTTP with httpx."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from models.enrollment import Enrollment
from models.lead import Lead
from testkit.harness import template, write_files
from testkit.ports import free_port
from tests.support.processes import Processes, followup_env, running, wait_until
from worker.auth.apikeys import create_key
from worker.auth.tokens import unsubscribe_url
from worker.engine.broker import EVENT_QUEUE, make_redis_broker, queue_depth
from worker.engine.db import transaction
from worker.engine.runtime import build_runtime
from worker.engine.settings import Settings

pytestmark = pytest.mark.integration

SEQUENCE = """
name: mql
trigger: lead.mql
steps:
  - id: intro
    email: t/intro
"""


class Server:
    """A `followup api` process on a free port, a client with a key, and a runtime on its DB."""

    def __init__(self, processes: Processes) -> None:
        self.rt = build_runtime(Settings.from_mapping(processes.env))  # creates the tables
        with transaction(self.rt.engine) as session:
            key = create_key(session, "server-test", now=self.rt.clock.now())
        self.base_url = f"http://127.0.0.1:{free_port()}"
        self.process = processes.start("api", "api", "--port", self.base_url.rsplit(":", 1)[1])
        self.http = httpx.Client(
            base_url=self.base_url, timeout=10, headers={"Authorization": f"Bearer {key}"}
        )
        wait_until(self._ready, timeout=60, what="the API to answer /readyz", processes=processes)

    def _ready(self) -> bool:
        try:
            return self.http.get("/readyz").status_code == 200
        except httpx.TransportError:
            return False

    def enrollments(self) -> list[Enrollment]:
        with Session(self.rt.engine) as session:
            return list(session.exec(select(Enrollment)))

    def close(self) -> None:
        self.http.close()
        self.rt.close()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_files(tmp_path / "sequences", {"mql.yaml": SEQUENCE})
    write_files(tmp_path / "templates", {"t/intro.j2": template("Intro")})
    return tmp_path


def _env(folder: Path, redis_url: str = "") -> dict[str, str]:
    return followup_env(
        database_url=f"sqlite:///{folder / 'followup.db'}",
        redis_url=redis_url,
        smtp_url="",
        folder=folder,
    )


def test_the_real_server_accepts_events_serves_leads_and_unsubscribes(folder: Path) -> None:
    """Given `followup api` alone (embedded broker), when an event is POSTed over HTTP, then it
    is stored at once and carried out by the process's applier; the lead reads back; one-click
    unsubscribe works unauthed.
    Its log (FOLLOWUP_LOG_FORMAT=json) is one object per line, the access log included, and a
    token in a query string is masked."""
    env = {**_env(folder), "FOLLOWUP_LOG_FORMAT": "json"}
    with running(env, folder) as processes:
        server = Server(processes)
        assert httpx.get(f"{server.base_url}/events").status_code == 405
        assert httpx.post(f"{server.base_url}/events", json={}).status_code == 401
        event = {"type": "lead.mql", "lead": {"email": "ana@example.com"}, "id": "crm-1"}
        accepted = server.http.post("/events", json=event)
        assert accepted.status_code == 202
        assert accepted.json()["status"] == "accepted" and accepted.json()["processed"] is False
        wait_until(server.enrollments, timeout=30, what="the applier to enroll the lead")
        again = server.http.post("/events", json=event).json()
        assert (again["status"], again["processed"]) == ("duplicate", True)
        assert [e.sequence for e in server.enrollments()] == ["mql"]
        lead = server.http.get("/leads/ana@example.com").json()
        assert [t["status"] for t in lead["touches"]] == ["scheduled"]
        link = unsubscribe_url(server.base_url, "ana@example.com", keys=server.rt.key_ring)
        one_click = httpx.post(
            link,
            content="List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert one_click.status_code == 200
        with Session(server.rt.engine) as session:
            stored = session.exec(select(Lead).where(Lead.email == "ana@example.com")).one()
        assert stored.suppressed_reason == "lead.unsubscribed"
        assert server.http.get("/docs").status_code == 200
        httpx.get(f"{server.base_url}/compliance?token=not-a-real-token-123")
        server.close()
    lines = [json.loads(line) for line in processes.named("api").log_path.read_text().splitlines()]
    access = [entry["message"] for entry in lines if entry["logger"] == "uvicorn.access"]
    # the request is logged, its query string is not (worker/api/access_log.py drops it)
    assert any('"GET /compliance HTTP/1.1"' in message for message in access), access
    assert not any("not-a-real-token-123" in json.dumps(entry) for entry in lines)


def test_with_redis_the_api_only_enqueues_and_a_worker_enrolls(
    folder: Path, clean_redis_url: str
) -> None:
    """Given FOLLOWUP_REDIS_URL, an accepted event is one insert plus a Redis message; the
    lead is enrolled only when a `followup worker` takes the message."""
    with running(_env(folder, clean_redis_url), folder) as processes:
        server = Server(processes)
        accepted = server.http.post(
            "/events", json={"type": "lead.mql", "lead": {"email": "ben@example.com"}}
        )
        assert accepted.status_code == 202 and accepted.json()["processed"] is False
        assert queue_depth(make_redis_broker(clean_redis_url))[EVENT_QUEUE] == 1
        assert server.enrollments() == []
        readiness = server.http.get("/readyz").json()
        assert readiness["status"] == "ok" and readiness["checks"]["broker"] == "ok"
        assert httpx.get(f"{server.base_url}/readyz").json() == {"status": "ok"}  # no key
        scraped = server.http.get("/metrics").text
        assert 'followup_queue_depth{queue="events"} 1.0' in scraped
        assert "followup_events_accepted_total 1.0" in scraped
        processes.worker()
        wait_until(
            server.enrollments,
            timeout=60,
            what="the worker to enroll the lead",
            processes=processes,
        )
        server.close()
