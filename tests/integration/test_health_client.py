"""/readyz and /metrics on a real Redis: every check reuses one named connection."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from testkit.harness import template, write_files
from worker.api.app import create_app
from worker.auth.apikeys import create_key
from worker.engine.broker import HEALTH_CLIENT_NAME
from worker.engine.db import transaction
from worker.engine.runtime import build_runtime
from worker.engine.settings import Settings

pytestmark = pytest.mark.integration

SEQUENCE = """
name: hello
trigger: lead.mql
steps:
  - id: hello
    email: t/hello
"""


def health_connections(url: str) -> list[str]:
    """Redis's ids of the open health-check connections to this test's database."""
    client = redis.Redis.from_url(url)
    try:
        db = client.connection_pool.connection_kwargs.get("db", 0)
        return [
            str(c["id"])
            for c in client.client_list()
            if c.get("name") == HEALTH_CLIENT_NAME and str(c.get("db")) == str(db)
        ]
    finally:
        client.close()


def test_readiness_and_metrics_check_redis_on_one_connection(
    tmp_path: Path, clean_redis_url: str
) -> None:
    """Given a Redis broker, /readyz calls and /metrics scrapes answer over one connection."""
    write_files(tmp_path / "sequences", {"hello.yaml": SEQUENCE})
    write_files(tmp_path / "templates", {"t/hello.j2": template("Hello")})
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'followup.db'}",
        redis_url=clean_redis_url,
        sequences_dir=tmp_path / "sequences",
        templates_dir=tmp_path / "templates",
        outbox_dir=tmp_path / "outbox",
        secret_key="health-secret",
    )
    rt = build_runtime(settings)
    try:
        with transaction(rt.engine) as session:
            key = create_key(session, "ops", now=rt.clock.now())
        client = TestClient(create_app(rt), headers={"Authorization": f"Bearer {key}"})
        assert client.get("/readyz").json()["checks"]["broker"] == "ok"
        [first] = health_connections(clean_redis_url)
        for _ in range(5):
            assert client.get("/readyz").status_code == 200
            assert 'followup_queue_depth{queue="touches"} 0.0' in client.get("/metrics").text
        assert health_connections(clean_redis_url) == [first]
    finally:
        rt.close()
    assert health_connections(clean_redis_url) == []
