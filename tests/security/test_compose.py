"""Finding 12 (compose): docker-compose.yml publishes nothing beyond this machine by default;
mailpit's unauthenticated web UI shows every email and its unsubscribe token."""

from __future__ import annotations

from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
BIND_DEFAULT = "${FOLLOWUP_BIND:-127.0.0.1}"  # the API's address: loopback unless the operator says


def test_every_published_port_is_bound_to_loopback() -> None:
    """Finding 12: each `ports:` entry of every service starts with 127.0.0.1 (by default: the
    API's `${FOLLOWUP_BIND:-127.0.0.1}` publishes further only when the operator sets it)."""
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    published = {
        name: [
            str(port).replace("${FOLLOWUP_BIND:-127.0.0.1}", "127.0.0.1")
            for port in service.get("ports", [])
        ]
        for name, service in services.items()
        if service.get("ports")
    }
    assert {"api", "mailpit"} <= set(published)
    for name, ports in published.items():
        for port in ports:
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"
