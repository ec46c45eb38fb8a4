"""Finding 12 (/healthz): anyone sees ok or unavailable; the reasons, which name internal hosts
and ports, need a valid API key."""

from __future__ import annotations

from testkit.harness import Harness
from testkit.ports import free_port
from tests.security.conftest import Client


def test_a_public_healthz_never_shows_where_redis_lives(h: Harness, api: Client) -> None:
    """Finding 12: with Redis down, anyone gets 503 and `unavailable`, no host, no port, no
    driver text; a caller with a key gets the reason."""
    port = free_port()  # nothing listens there: Redis is "down" (the harness keeps its broker)
    h.rt.settings = h.settings.with_(redis_url=f"redis://127.0.0.1:{port}/7")
    public = api.client.get("/healthz")
    assert public.status_code == 503
    assert public.json() == {"status": "unavailable", "database": "ok", "broker": "unavailable"}
    assert str(port) not in public.text and "127.0.0.1" not in public.text
    detailed = api.get("/healthz")
    assert detailed.status_code == 503
    assert str(port) in detailed.json()["broker"]
    wrong = api.client.get("/healthz", headers={"Authorization": "Bearer fu_nope"})
    assert str(port) not in wrong.text


def test_a_healthy_service_says_ok_to_anyone(api: Client) -> None:
    """Finding 12: the load balancer's view is unchanged: 200 and ok."""
    response = api.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "embedded"}
