"""The fault suite's TCP proxy: it forwards, blackholes (silence, sockets kept open) and heals."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import suppress

import pytest

from testkit.chaos.proxy import TcpProxy

SILENCE = 0.3  # how long "nothing arrives" is watched; an absence, not a timing claim


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(echo_port: int) -> Iterator[TcpProxy]:
    with TcpProxy(echo_port) as started:
        yield started


def connect(proxy: TcpProxy) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=5)


def echoed(client: socket.socket, payload: bytes) -> bytes:
    client.sendall(payload)
    received = b""
    while len(received) < len(payload):
        received += client.recv(4096)
    return received


def silent(client: socket.socket) -> bool:
    """True when nothing arrives within SILENCE and the connection is still open."""
    client.settimeout(SILENCE)
    try:
        client.recv(4096)  # data, or b"" for a closed connection: not silent
    except TimeoutError:
        return True
    finally:
        client.settimeout(5)
    return False


def test_a_passing_proxy_forwards_both_ways(proxy: TcpProxy) -> None:
    """Given a passing proxy, when a client writes, then the echo comes back through it."""
    with connect(proxy) as client:
        assert echoed(client, b"hello") == b"hello"


def test_a_blackhole_stalls_open_connections_until_healed(proxy: TcpProxy) -> None:
    """Given a connection, when the proxy blackholes, then what is written neither arrives nor
    closes the socket; when it heals, the held bytes arrive."""
    with connect(proxy) as client:
        assert echoed(client, b"one") == b"one"
        proxy.blackhole()
        client.sendall(b"two")
        assert silent(client)
        proxy.heal()
        assert client.recv(4096) == b"two"


def test_a_blackholed_proxy_accepts_new_connections_and_says_nothing(proxy: TcpProxy) -> None:
    """Given a blackhole, when a client connects, then the connect succeeds but nothing flows
    until the heal."""
    proxy.blackhole()
    with connect(proxy) as client:
        client.sendall(b"ping")
        assert silent(client)
        proxy.heal()
        assert client.recv(4096) == b"ping"


def test_a_resetting_heal_drops_old_connections_and_serves_new_ones(proxy: TcpProxy) -> None:
    """Given a blackholed connection, when the proxy heals with reset, then that connection is
    closed and a new one is forwarded."""
    with connect(proxy) as old:
        assert echoed(old, b"a") == b"a"
        proxy.blackhole()
        old.sendall(b"lost")
        proxy.heal(reset=True)
        with suppress(ConnectionResetError):  # closed: EOF or a reset, either way no data
            assert old.recv(4096) == b""
    with connect(proxy) as new:
        assert echoed(new, b"b") == b"b"
    assert proxy.open_connections <= 1
