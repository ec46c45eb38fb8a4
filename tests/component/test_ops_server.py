"""The metrics port's server and the container probe, on 127.0.0.1 with fakes behind them."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from tests.support.services import free_port
from worker.engine.ops_server import OpsServer, OpsServerError
from worker.engine.probe import main as probe
from worker.engine.readiness import Readiness

KEY = "Bearer fu_the-one-key-that-unlocks"


class Fakes:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        Counter("followup_probe_total", "a counter", registry=self.registry).inc(3)
        self.database_ok = True

    def readiness(self) -> Readiness:
        found = "ok, at 0001 (head)" if self.database_ok else "unreachable: 127.0.0.1:5432"
        return Readiness({"database": (self.database_ok, found), "sequences": (True, "1 loaded")})


@pytest.fixture
def served() -> Iterator[tuple[OpsServer, Fakes]]:
    fakes = Fakes()
    server = OpsServer(
        "127.0.0.1",
        0,
        registry=fakes.registry,
        readiness=fakes.readiness,
        may_see_detail=lambda header: header == KEY,
    )
    server.start()
    yield server, fakes
    server.stop()


def test_metrics_health_and_readiness_are_served(served: tuple[OpsServer, Fakes]) -> None:
    """/metrics is the text format; /healthz is ok; /readyz is ok or 503, reasons with a key."""
    server, fakes = served
    base = f"http://127.0.0.1:{server.port}"
    assert "followup_probe_total 3.0" in httpx.get(f"{base}/metrics").text
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{base}/readyz").json() == {"status": "ok"}
    fakes.database_ok = False
    public = httpx.get(f"{base}/readyz")
    private = httpx.get(f"{base}/readyz", headers={"Authorization": KEY})
    assert (public.status_code, public.json()) == (503, {"status": "unavailable"})
    assert private.json()["checks"]["database"] == "unreachable: 127.0.0.1:5432"
    assert httpx.get(f"{base}/nothing").status_code == 404


def test_the_probe_exits_0_only_when_ready(served: tuple[OpsServer, Fakes]) -> None:
    """The container healthcheck: 0 for ready, 1 for 503 or for nothing listening."""
    server, fakes = served
    url = f"http://127.0.0.1:{server.port}/readyz"
    assert probe([url]) == 0
    fakes.database_ok = False
    assert probe([url]) == 1
    assert probe([f"http://127.0.0.1:{free_port()}/readyz"]) == 1


def test_a_port_in_use_is_one_line_naming_the_variable() -> None:
    """Binding fails before anything is served, with what to do."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = OpsServer(
            "127.0.0.1",
            port,
            registry=CollectorRegistry(),
            readiness=Fakes().readiness,
            may_see_detail=lambda _: False,
        )
        with pytest.raises(OpsServerError) as error:
            server.start()
    assert str(error.value) == (
        f"FOLLOWUP_METRICS_PORT {port} on 127.0.0.1 is already in use: "
        "choose a free port, or unset it to serve no metrics"
    )
