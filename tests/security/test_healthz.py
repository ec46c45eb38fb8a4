"""Finding 12 (/healthz, now /healthz and /readyz): anyone sees ok or unavailable; the reasons,
which name internal hosts and ports, need a valid API key."""

from __future__ import annotations

from testkit.harness import Harness
from testkit.ports import free_port
from tests.security.conftest import Client


def test_a_public_readyz_never_shows_where_redis_lives(h: Harness, api: Client) -> None:
    """Finding 12: with Redis down, anyone gets 503 and `unavailable`, no host, no port, no
    driver text; a caller with a key gets the reason."""
    port = free_port()  # nothing listens there: Redis is "down" (the harness keeps its broker)
    h.rt.settings = h.settings.with_(redis_url=f"redis://127.0.0.1:{port}/7")
    public = api.client.get("/readyz")
    assert public.status_code == 503
    assert public.json() == {"status": "unavailable"}
    assert str(port) not in public.text and "127.0.0.1" not in public.text
    detailed = api.get("/readyz")
    assert detailed.status_code == 503
    assert str(port) in detailed.json()["checks"]["broker"]
    wrong = api.client.get("/readyz", headers={"Authorization": "Bearer fu_nope"})
    assert str(port) not in wrong.text


def test_a_healthy_service_says_ok_to_anyone(api: Client) -> None:
    """Finding 12: the load balancer's view: 200 and ok from both probes, nothing more."""
    for path in ("/healthz", "/readyz"):
        response = api.client.get(path)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
